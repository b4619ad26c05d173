# Class-conditional Fashion-MNIST 32x32 with Patch Diffusion and classifier-free guidance:
# labels are replaced by the null label with probability 0.1 in training, so the model also
# learns the unconditional denoiser that guidance needs. The backbone is one line below.
# Sample a grid with one row per class:
#   patchgen sample CKPT --num 100 --out samples --guidance 2 --grid grid.png
_base_ = ['./fmnist32_patch.py']

backbones = dict(
    unet=dict(_delete_=True, type='UNet', base_channels=32, channel_mults=(1, 2, 2),
              num_blocks=2, attn_resolutions=(16,), dropout=0.1),
    # DiT-S/2: 12 blocks of width 384 on 2x2 tokens, sin-cos positions at absolute coordinates.
    # A small CPU variant (1.3M parameters, 1.2-2 s per step on 2 busy cores; 500 steps give only
    # blotches, the UNet line reaches clean class rows in 4,000 steps): --cfg-options
    # model.backbone.depth=4 model.backbone.hidden_size=128 model.backbone.num_heads=4
    dit=dict(_delete_=True, type='DiT', arch='S/2'),
)
model = dict(num_classes=10, label_dropout=0.1, backbone=backbones['dit'])  # or backbones['unet']
val_dataloader = dict(dataset=dict(num_classes=10))  # FID samples cycle through the classes
