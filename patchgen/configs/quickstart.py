# The quickstart: a small Patch Diffusion model on MNIST-5k at 32x32, a few minutes on a CPU.
_base_ = ['./_base_/models/ddpmpp.py', './_base_/datasets/mnist5k_32.py',
          './_base_/schedules/adam_patch.py', './_base_/default_runtime.py']

resolution = 32
model = dict(
    image_channels=1,
    resolution=resolution,
    # Per-pixel mean: steps on small patches weigh as much per pixel as full-image steps
    # (on MNIST-5k it reached the 750-step 'pixel_sum' grid in about 600 steps).
    loss_reduction='pixel_mean',
    backbone=dict(base_channels=32, channel_mults=(1, 2, 2), num_blocks=1, attn_resolutions=(),
                  dropout=0.0),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100)]
train_cfg = dict(max_iters=600)
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=600, max_keep_ckpts=1),
    ema=dict(halflife_images=10_000),
    sample_grid=dict(interval=600, num_images=64),
)
