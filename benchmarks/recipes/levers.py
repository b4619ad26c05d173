# Step 8's lever sweep: patch recipes against the full-image recipe at one FLOP budget.
# Every recipe is configs/fmnist32_{full,patch}.py (DDPM++ UNet, batch 32, Adam 1e-3 with a
# 200-step warm-up, per-pixel mean loss, EMA half-life 10k images) without dropout, plus
# the named change. Run with e.g. --gflops 32000 (about 350 full-image steps).
import runpy
from pathlib import Path

EDM = runpy.run_path(str(Path(__file__).with_name('pair.py')))['EDM']  # as run
FULL, PATCH = 'configs/fmnist32_full.py', 'configs/fmnist32_patch.py'
NO_DROPOUT = ['model.backbone.dropout=0.0']

RECIPES = {
    'full': dict(config=FULL, options=[*EDM, *NO_DROPOUT]),
    'patch_paper': dict(config=PATCH, options=[*EDM, *NO_DROPOUT]),
    'patch_noise_aware': dict(config=PATCH, options=[
        *EDM, *NO_DROPOUT, 'train_cfg.patch_sampler.type=NoiseAwareMultiScale']),
    'patch_learned_weighting': dict(config=PATCH, options=[
        *EDM, *NO_DROPOUT, 'model.weighting.type=LearnedUncertaintyWeighting']),
    'full_batch16': dict(config=FULL, options=[*EDM, *NO_DROPOUT,
                                               'train_dataloader.batch_size=16']),
    'patch_noise_aware_half': dict(config=PATCH, options=[
        *EDM, *NO_DROPOUT, 'train_cfg.patch_sampler.type=NoiseAwareMultiScale',
        'train_cfg.patch_sampler.coupling=0.5']),
    'patch_min_snr': dict(config=PATCH, options=[
        *EDM, *NO_DROPOUT, 'model.weighting.type=MinSNRWeighting']),
    'full_learned_weighting': dict(config=FULL, options=[
        *EDM, *NO_DROPOUT, 'model.weighting.type=LearnedUncertaintyWeighting']),
}
