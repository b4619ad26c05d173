# LSUN-Bedroom-256 in latent space, the paper's latent recipe: Stable Diffusion's VAE (32x32x4
# latents scaled by 0.18215), patch sizes 16 and 32 (R/2 and R) with real_p 0.5, unconditional.
# The backbone is an ADM-style UNet (scale-shift conditioning, attention at 16, 8 and 4). For GPUs:
#   1. the VAE folder at models/sd-vae-ft-ema (docs/latent.md), pip install 'patchgen[latent]'
#   2. patchgen data encode data/lsun-bedroom-256x256.zip --autoencoder THIS
#        --out data/lsun-bedroom256_sd-vae-ft-ema --xflip      (about 50 GB for 3M images)
#   3. torchrun --nproc_per_node=8 tools/train.py THIS --launcher pytorch
_base_ = ['./_base_/models/ddpmpp.py', './_base_/autoencoders/sd_vae_ft_ema.py',
          './_base_/schedules/adam_patch.py', './_base_/evaluation/fid_inception.py',
          './_base_/default_runtime.py']

resolution = 32  # latent side: 256 / 8
model = dict(
    image_channels=4,  # latent channels
    autoencoder={{_base_.autoencoder}},
    resolution=resolution,
    loss_reduction='pixel_mean',
    backbone=dict(base_channels=224, channel_mults=(1, 2, 3, 4), num_blocks=2,
                  attn_resolutions=(16, 8, 4), num_heads=4, dropout=0.1, scale_shift=True),
    sampler=dict(type='HeunSampler', num_steps=40),
)
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='LatentDataset', root='data/lsun-bedroom256_sd-vae-ft-ema', xflip=True),
)
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=5000)]
train_cfg = dict(max_iters=400_000, val_interval=20_000,
                 patch_sampler=dict(_delete_=True, type='LatentMultiScale', real_p=0.5))
# FID of decoded EMA samples against the 256x256 training images.
val_dataloader = dict(dataset=dict(num=10_000))
val_evaluator = [dict(type='FID', reference='data/refs/lsun-bedroom-256x256_tfinception.npz',
                      reference_dataset=dict(type='ImageFolderDataset',
                                             root='data/lsun-bedroom-256x256.zip', channels=3))]
default_hooks = dict(
    checkpoint=dict(interval=10_000, max_keep_ckpts=3, save_best='fid', rule='less'),
    ema=dict(halflife_images=500_000),
    sample_grid=dict(interval=10_000, num_images=64),
)
