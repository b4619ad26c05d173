# TAESD (madebyollin/taesd, 2.4M parameters, 10 MB): a tiny approximation of SD's VAE, about
# 50x cheaper to decode; its latents are already in SD's scaled space (scale 1). Good for sample
# grids and quick checks; swap in sd_vae_ft_ema.py for final samples and FID (docs/latent.md).
# Needs pip install 'patchgen[latent]'; patchgen never downloads the weights.
autoencoder = dict(
    type='DiffusersAutoencoderTiny',
    path='models/taesd',  # config.json + diffusion_pytorch_model.safetensors
    scale=1.0,
    hub_id='madebyollin/taesd',
)
