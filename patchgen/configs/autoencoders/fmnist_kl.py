# patchgen's KL autoencoder for Fashion-MNIST: 32x32x1 images -> 8x8x4 latents (docs/latent.md).
#   patchgen autoencoder train configs/autoencoders/fmnist_kl.py --out work_dirs/fmnist_kl/ae.pth
# The latents hold 256 numbers per 1,024-pixel image (4x fewer), so the diffusion model works
# on an 8x8 canvas with patches of 4 and 8 (the paper's R/2 and R in latent space).
pipeline = [dict(type='CenterPad', size=32)]  # 28 -> 32 pixels, as configs/fmnist32_*.py
autoencoder = dict(
    type='KLAutoencoder',
    network=dict(image_channels=1, latent_channels=4, base_channels=32, channel_mults=(1, 2, 2),
                 num_blocks=1),
)
train_dataloader = dict(batch_size=64,
                        dataset=dict(type='FashionMNIST', split='train', pipeline=pipeline))
test_dataset = dict(type='FashionMNIST', split='test', pipeline=pipeline, indices=1000)  # PSNR
max_iters = 3000
lr = 2e-3  # Adam, decayed to 0 on a cosine
kl_weight = 1e-4  # per latent element, against the per-pixel L1 error
seed = 0
save_interval = 500  # steps between checkpoints (--resume goes on from the last)
