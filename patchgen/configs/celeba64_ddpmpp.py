# The paper's CelebA-64 recipe (FID 1.77): DDPM++ as in EDM, batch 256, lr 2e-4, dropout 0.05,
# no augmentation, real_p 0.5. For GPUs: torchrun --nproc_per_node=8 tools/train.py THIS
# --launcher pytorch (train_dataloader.batch_size is per GPU: 32 x 8 GPUs = 256).
_base_ = ['./_base_/models/ddpmpp.py', './_base_/datasets/celeba_64.py',
          './_base_/schedules/adam_patch.py', './_base_/evaluation/fid_inception.py',
          './_base_/default_runtime.py']

resolution = 64
model = dict(
    image_channels=3,
    resolution=resolution,
    backbone=dict(base_channels=128, channel_mults=(1, 2, 2, 2), num_blocks=4,
                  attn_resolutions=(16,), dropout=0.05),
    sampler=dict(type='HeunSampler', num_steps=50),  # the paper samples DDPM++ with 50 steps
)
train_dataloader = dict(batch_size=32)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
# EDM warms the learning rate up over 10M images: 10M / 256 images per full-image step.
param_scheduler = [dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=39_000)]
train_cfg = dict(max_iters=400_000, val_interval=20_000,
                 patch_sampler=dict(type='RandomMultiScale', real_p=0.5))
# FID of 10,000 EMA samples (50 Heun steps) against statistics of the whole training set.
val_dataloader = dict(dataset=dict(num=10_000))
val_evaluator = [dict(type='FID', reference='data/refs/celeba-64x64_tfinception.npz',
                      reference_dataset={{_base_.train_dataloader.dataset}})]
default_hooks = dict(
    checkpoint=dict(interval=10_000, max_keep_ckpts=3, save_best='fid', rule='less'),
    ema=dict(halflife_images=500_000),  # EDM's 0.5M-image half-life with 5% ramp-up
    sample_grid=dict(interval=10_000, num_images=64),
)
