# Patch Diffusion with EDM's DDPM++ UNet (residual resampling blocks, GroupNorm with at least
# 4 channels per group, Xavier-uniform initialisation).
_base_ = ['./patch_diffusion.py']

model = dict(
    backbone=dict(
        type='UNet',
        base_channels=128,
        channel_mults=(1, 2, 2, 2),
        num_blocks=4,
        attn_resolutions=(16,),
        dropout=0.1,
    ),
)
