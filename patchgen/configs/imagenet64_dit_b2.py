# ImageNet-64 (pixels), class-conditional DiT-B/2 with Patch Diffusion, for GPUs:
#   torchrun --nproc_per_node=8 tools/train.py THIS --launcher pytorch
# Data: an EDM-style zip with labels (EDM's dataset_tool.py --resolution=64x64, or
# `patchgen data FOLDER --out data/imagenet-64x64.zip` from class folders with a dataset.json).
# train_dataloader.batch_size is per GPU: 32 x 8 GPUs = 256 full images per step.
# For DiT-XL, or GPUs with less memory, shard with FSDP instead of DDP (docs/distributed.md):
#   --cfg-options model_wrapper_cfg.type=PatchFullyShardedDataParallel
_base_ = ['./_base_/models/patch_diffusion.py', './_base_/schedules/adam_patch.py',
          './_base_/evaluation/fid_inception.py', './_base_/default_runtime.py']

resolution = 64
model = dict(
    image_channels=3,
    resolution=resolution,
    num_classes=1000,
    label_dropout=0.1,
    loss_reduction='pixel_mean',
    backbone=dict(type='DiT', arch='B/2'),  # 'XL/2' for the paper-scale model
    sampler=dict(type='HeunSampler', num_steps=40),
    channels_last=False,  # a transformer: no convolutions to speed up
)
imagenet = dict(type='ImageFolderDataset', root='data/imagenet-64x64.zip', channels=3,
                min_size=resolution)
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(imagenet, pipeline=[dict(type='RandomFlip', prob=0.5)]),
)
# bf16 autocast on the GPU; AdamW with DiT's learning rate and no weight decay.
optim_wrapper = dict(_delete_=True, type='AutocastOptimWrapper', dtype='bfloat16',
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.0, fused=True))
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=5000)]
train_cfg = dict(max_iters=400_000, val_interval=20_000,
                 patch_sampler=dict(type='RandomMultiScale', real_p=0.5))
val_dataloader = dict(dataset=dict(num=10_000, num_classes=1000))
val_evaluator = [dict(type='FID', reference='data/refs/imagenet-64x64_tfinception.npz',
                      reference_dataset=imagenet)]
default_hooks = dict(
    checkpoint=dict(interval=10_000, max_keep_ckpts=3, save_best='fid', rule='less'),
    ema=dict(halflife_images=500_000),
    sample_grid=dict(interval=10_000, num_images=64),
)
