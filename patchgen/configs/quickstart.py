# The quickstart: a small diffusion model on MNIST-5k at 32x32, about 9 minutes on a 2-core CPU
# (0.33 s per step measured on a Xeon with AMX). It trains on full images: at equal training
# FLOPs (1,500 full-image steps against 2,150 steps of the paper's patch mix) the full-image
# grid showed more recognisable digits, as full images won at equal FLOPs on Fashion-MNIST
# (benchmarks/README.md). `--cfg-options train_cfg.patch_sampler.type=RandomMultiScale`
# trains the same model on patches.
_base_ = ['./_base_/models/ddpmpp.py', './_base_/datasets/mnist5k_32.py',
          './_base_/schedules/adam_patch.py', './_base_/default_runtime.py']

resolution = 32
model = dict(
    image_channels=1,
    resolution=resolution,
    # Per-pixel mean: with patches, steps on small patches weigh as much per pixel as
    # full-image steps (for full images the reduction only scales the loss).
    loss_reduction='pixel_mean',
    backbone=dict(base_channels=32, channel_mults=(1, 2, 2), num_blocks=1, attn_resolutions=(),
                  dropout=0.0),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100)]
train_cfg = dict(max_iters=1500, patch_sampler=dict(_delete_=True, type='FullImage'))
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=1500, max_keep_ckpts=1),
    ema=dict(halflife_images=10_000),
    sample_grid=dict(interval=1500, num_images=64),
)
