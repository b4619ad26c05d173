# Fashion-MNIST 32x32 with Patch Diffusion (sizes 8/16/32, real_p 0.5).
# configs/fmnist32_full.py is the same run on full images only; at 635 steps it reaches FID
# 70.0 +- 2.5 over two seeds (1,000 Heun-18 samples vs 2,000 test images; the reference code's
# recipe: 82.4; benchmarks/README.md).
_base_ = ['./_base_/models/ddpmpp.py', './_base_/datasets/fashion_mnist_32.py',
          './_base_/schedules/adam_patch.py', './_base_/evaluation/fid_inception.py',
          './_base_/default_runtime.py']

resolution = 32
model = dict(
    image_channels=1,
    resolution=resolution,
    # Per-pixel mean, not the reference's pixel sum: with Adam, the sum makes steps on small
    # patches (16x fewer pixels at R/4) move the weights far less than full-image steps, so
    # they cost time and teach little. For full images the two differ by a constant factor.
    loss_reduction='pixel_mean',
    # EDM2's learned per-noise-level uncertainty weighting, not EDM's: at 635 full-image steps
    # FID 70.0 +- 2.5 against 82.3 +- 3.4, and 74.3 +- 2.1 against 87.6 +- 3.2 for annealed
    # patches (two seeds each, recipes/pair.py and pair_levers.py).
    weighting=dict(type='LearnedUncertaintyWeighting'),
    # EDM's DDPM++ at 1.79M parameters. No dropout: it slows short runs (635 full-image steps:
    # FID 117.6 with 0.1, 103.5 without, on the previous UNet; benchmarks/README.md).
    backbone=dict(base_channels=32, channel_mults=(1, 2, 2), num_blocks=2, attn_resolutions=(16,),
                  dropout=0.0),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=200)]
train_cfg = dict(max_iters=20_000, val_interval=5000,
                 patch_sampler=dict(type='RandomMultiScale', real_p=0.5))
# FID of 1,000 EMA samples against the test split, padded like the training images.
val_evaluator = [dict(
    type='FID',
    reference='data/refs/fashion-mnist-test-32_tfinception.npz',
    reference_dataset=dict(type='FashionMNIST', split='test',
                           pipeline=[dict(type='CenterPad', size=32)]),
)]
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=2000, max_keep_ckpts=2, save_best='fid', rule='less'),
    ema=dict(halflife_images=10_000),
    sample_grid=dict(interval=2000, num_images=64),
)
