# Patch Diffusion with a DDPM++-class UNet and EDM's noise schedule.
resolution = 64
model = dict(
    type='PatchDiffusion',
    image_channels=3,
    resolution=resolution,
    num_classes=0,
    loss_reduction='pixel_sum',  # the reference's; 'pixel_mean' weighs patch sizes equally per pixel
    backbone=dict(
        type='UNet',
        base_channels=128,
        channel_mults=(1, 2, 2, 2),
        num_blocks=4,
        attn_resolutions=(16,),
        dropout=0.1,
    ),
    schedule=dict(type='EDM'),
    patch_sampler=dict(type='RandomMultiScale', real_p=0.5),
    sampler=dict(type='HeunSampler', num_steps=18),
    channels_last=True,  # NHWC convolutions: about 1.1x faster on CPU (benchmarks/README.md)
)

optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.999), eps=1e-8,
                                    fused=True))  # one kernel for all parameters
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=10_000)]
