# Stable Diffusion's VAE with EMA-finetuned decoder (stabilityai/sd-vae-ft-ema, 84M parameters,
# 335 MB): 256x256x3 images <-> 32x32x4 latents (8x8 pixels per latent), scaled by 0.18215 to
# about unit spread. patchgen never downloads it: fetch the folder on a machine with internet
# and copy it to `path` (docs/latent.md). Needs pip install 'patchgen[latent]'.
autoencoder = dict(
    type='DiffusersAutoencoderKL',
    path='models/sd-vae-ft-ema',  # config.json + diffusion_pytorch_model.safetensors
    scale=0.18215,
    hub_id='stabilityai/sd-vae-ft-ema',  # named in the message when `path` is missing
)
