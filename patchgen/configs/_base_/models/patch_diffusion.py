# PatchDiffusion without a backbone: EDM's noise schedule and loss, EDM's Heun sampler.
# A model config adds `backbone` (ddpmpp.py: the UNet; or dict(type='DiT', ...), or yours).
model = dict(
    type='PatchDiffusion',
    image_channels=3,
    resolution=64,
    num_classes=0,
    loss_reduction='pixel_sum',  # the reference's; 'pixel_mean': every pixel weighs the same
    schedule=dict(type='EDM'),
    weighting=dict(type='EDMWeighting'),
    sampler=dict(type='HeunSampler', num_steps=18),
    channels_last=True,  # NHWC convolutions: about 1.1x faster on CPU (benchmarks/README.md)
)
