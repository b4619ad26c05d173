# ImageNet-256 in latent space, the paper's latent recipe: Stable Diffusion's VAE (32x32x4
# latents scaled by 0.18215), patch sizes 16 and 32 (R/2 and R) with real_p 0.5, class labels
# dropped 10% of the time for classifier-free guidance (the paper reports FID 2.72 at w=1.3).
# The backbone is DiT-XL/2, patchgen's choice (the paper's code has no DiT). For GPUs:
#   1. the VAE folder at models/sd-vae-ft-ema (docs/latent.md), pip install 'patchgen[latent]'
#   2. patchgen data encode data/imagenet-256x256.zip --autoencoder THIS
#        --out data/imagenet256_sd-vae-ft-ema --xflip            (about 21 GB of float16 latents)
#   3. torchrun --nproc_per_node=8 tools/train.py THIS --launcher pytorch
#   4. patchgen sample CKPT --num 50000 --out samples --guidance 1.3
# train_dataloader.batch_size is per GPU: 32 x 8 GPUs = 256 full latents per step.
_base_ = ['./_base_/models/patch_diffusion.py', './_base_/autoencoders/sd_vae_ft_ema.py',
          './_base_/schedules/adam_patch.py', './_base_/evaluation/fid_inception.py',
          './_base_/default_runtime.py']

resolution = 32  # latent side: 256 / 8
model = dict(
    image_channels=4,  # latent channels
    autoencoder={{_base_.autoencoder}},
    resolution=resolution,
    num_classes=1000,
    label_dropout=0.1,
    loss_reduction='pixel_mean',
    backbone=dict(type='DiT', arch='XL/2'),  # 'B/2' for a quicker run
    sampler=dict(type='HeunSampler', num_steps=40),
    channels_last=False,  # a transformer: no convolutions to speed up
)
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='LatentDataset', root='data/imagenet256_sd-vae-ft-ema', xflip=True),
)
# bf16 autocast on the GPU; AdamW with DiT's learning rate and no weight decay.
optim_wrapper = dict(_delete_=True, type='AutocastOptimWrapper', dtype='bfloat16',
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.0, fused=True))
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=5000)]
train_cfg = dict(max_iters=400_000, val_interval=20_000,
                 patch_sampler=dict(_delete_=True, type='LatentMultiScale', real_p=0.5))
# FID of decoded EMA samples against the 256x256 training images.
val_dataloader = dict(dataset=dict(num=10_000, num_classes=1000))
val_evaluator = [dict(type='FID', reference='data/refs/imagenet-256x256_tfinception.npz',
                      reference_dataset=dict(type='ImageFolderDataset',
                                             root='data/imagenet-256x256.zip', channels=3))]
default_hooks = dict(
    checkpoint=dict(interval=10_000, max_keep_ckpts=3, save_best='fid', rule='less'),
    ema=dict(halflife_images=500_000),
    sample_grid=dict(interval=10_000, num_images=64),
)
