# Step 9's latent run for the comparison with pixel space: configs/fmnist32_latent.py (a 1.07M-
# parameter UNet on 8x8x4 latents of patchgen's KL autoencoder, the paper's latent patch mix)
# for its 3,000 steps, which take about as long on one thread as the pixel recipes' 15-minute
# budget (recipes/pair.py). Needs the autoencoder and the latents first (docs/latent.md).
RECIPES = {'latent_patch': dict(config='configs/fmnist32_latent.py', options=[])}
