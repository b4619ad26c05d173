# Step 9's latent runs: configs/fmnist32_latent.py (a 1.07M-parameter UNet on 8x8x4 latents of
# patchgen's KL autoencoder, the paper's latent patch mix: 4x4 and 8x8 at real_p 0.5) for its
# 3,000 steps (--steps 3000: about 22,200 GFLOP, less than half the pixel recipes' 15-minute
# budget of recipes/pair.py), and the same model on full latents only at those FLOPs
# (--gflops 22235, the mean of the two 3,000-step patch runs). Needs the autoencoder and the
# latents first (docs/latent.md).
LATENT = 'configs/fmnist32_latent.py'
RECIPES = {
    'latent_patch': dict(config=LATENT, options=[]),
    'latent_full': dict(config=LATENT, options=['train_cfg.patch_sampler.type=FullImage']),
}
