# Latent Patch Diffusion on Fashion-MNIST, end to end on a CPU, with patchgen's own KL
# autoencoder (configs/autoencoders/fmnist_kl.py): 32x32x1 images <-> 8x8x4 latents, the
# paper's latent patch mix (sizes 4 and 8, i.e. R/2 and R, real_p 0.5). docs/latent.md:
#   patchgen autoencoder train configs/autoencoders/fmnist_kl.py --out work_dirs/fmnist_kl/ae.pth
#   patchgen data encode configs/autoencoders/fmnist_kl.py --autoencoder work_dirs/fmnist_kl/ae.pth
#     --out data/fmnist32_kl_latents
#   patchgen train configs/fmnist32_latent.py
_base_ = ['./_base_/models/ddpmpp.py', './_base_/schedules/adam_patch.py',
          './_base_/evaluation/fid_inception.py', './_base_/default_runtime.py']

resolution = 8  # latent side: 32 / 4
model = dict(
    image_channels=4,  # latent channels
    resolution=resolution,
    loss_reduction='pixel_mean',
    autoencoder=dict(type='KLAutoencoder', checkpoint='work_dirs/fmnist_kl/ae.pth'),
    # 0.35 s per step on one busy CPU thread (8x8 latents; 4x4 patches at batch 2 x 64)
    backbone=dict(base_channels=32, channel_mults=(1, 2), num_blocks=2, attn_resolutions=(4,),
                  dropout=0.0),
)
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='LatentDataset', root='data/fmnist32_kl_latents'),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=200)]
train_cfg = dict(max_iters=3000, val_interval=3000,
                 patch_sampler=dict(_delete_=True, type='LatentMultiScale', real_p=0.5))
# FID of 1,000 decoded EMA samples against the test split, padded like the training images.
val_evaluator = [dict(
    type='FID',
    reference='data/refs/fashion-mnist-test-32_tfinception.npz',
    reference_dataset=dict(type='FashionMNIST', split='test',
                           pipeline=[dict(type='CenterPad', size=32)]),
)]
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=1000, max_keep_ckpts=2),
    ema=dict(halflife_images=10_000),
    sample_grid=dict(interval=1000, num_images=64),
)
