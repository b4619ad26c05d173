# Step 8's baseline study: what makes patchgen's full-image recipe trail the reference code's.
# Each recipe is configs/fmnist32_full.py with overrides; compare at 635 optimizer steps
# (what the reference made in its 15-minute side-by-side run; its FID there: 82.4).
import runpy
from pathlib import Path

EDM = runpy.run_path(str(Path(__file__).with_name('pair.py')))['EDM']  # as run
FULL = 'configs/fmnist32_full.py'
OLD_UNET = ['model.backbone.resample=conv', 'model.backbone.channels_per_group=1',
            'model.backbone.init=torch']

RECIPES = {
    # the UNet with EDM's DDPM++ details (the defaults now), no dropout
    'ddpmpp': dict(config=FULL, options=[*EDM, 'model.backbone.dropout=0.0']),
    # patchgen's UNet before step 8 (stride-2 conv resampling, one channel per GroupNorm
    # group, PyTorch's default initialisation), without and with dropout
    'old_unet': dict(config=FULL, options=[*EDM, *OLD_UNET, 'model.backbone.dropout=0.0']),
    # one DDPM++ detail reverted at a time
    'ddpmpp_torch_init': dict(config=FULL, options=[*EDM, 'model.backbone.dropout=0.0',
                                                    'model.backbone.init=torch']),
    'ddpmpp_groups32': dict(config=FULL, options=[*EDM, 'model.backbone.dropout=0.0',
                                                  'model.backbone.channels_per_group=1']),
    'ddpmpp_conv_resample': dict(config=FULL, options=[*EDM, 'model.backbone.dropout=0.0',
                                                       'model.backbone.resample=conv']),
    'ddpmpp_dropout0.1': dict(config=FULL, options=[*EDM, 'model.backbone.dropout=0.1']),
    'old_unet_dropout0.1': dict(config=FULL, options=[*EDM, *OLD_UNET,
                                                      'model.backbone.dropout=0.1']),
}
