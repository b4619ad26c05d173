# The quickstart: a small diffusion model on MNIST-5k at 32x32, 950 full-image steps, about
# 9 minutes on a 2-core CPU (0.55 s per step on an AMD EPYC). It trains on full images: at
# equal training FLOPs full images gave the more recognisable digits (measured with the
# previous quickstart recipe), as full images won at equal FLOPs on Fashion-MNIST
# (benchmarks/README.md).
# `--cfg-options train_cfg.patch_sampler.type=RandomMultiScale` trains the same model on patches.
_base_ = ['./_base_/models/ddpmpp.py', './_base_/datasets/mnist5k_32.py',
          './_base_/schedules/adam_patch.py', './_base_/default_runtime.py']

resolution = 32
model = dict(
    image_channels=1,
    resolution=resolution,
    # Per-pixel mean: with patches, steps on small patches weigh as much per pixel as
    # full-image steps (for full images the reduction only scales the loss).
    loss_reduction='pixel_mean',
    # Noise levels drawn higher than EDM's (ln sigma ~ N(0.8, 1.2) instead of N(-1.2, 1.2)):
    # in a short run the digits' shape, learned at high noise, is what is missing. At 950
    # steps (256 samples, an MNIST-5k classifier's features; benchmarks/README.md) fd_mnist
    # 25.0, against 27.3 at p_mean 0 and 31.6 for the previous quickstart (EDM's noise levels
    # and weighting) at 1,500 steps.
    schedule=dict(p_mean=0.8, p_std=1.2),
    weighting=dict(type='LearnedUncertaintyWeighting'),
    backbone=dict(base_channels=32, channel_mults=(1, 2, 2), num_blocks=1, attn_resolutions=(),
                  dropout=0.0),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100)]
train_cfg = dict(max_iters=950, patch_sampler=dict(_delete_=True, type='FullImage'))
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=950, max_keep_ckpts=1),
    ema=dict(halflife_images=10_000),
    sample_grid=dict(interval=950, num_images=64),
)
