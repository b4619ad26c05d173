# CelebA at 64x64 as an EDM-style zip: `patchgen data` or EDM's dataset_tool.py
# (--resolution=64x64 --transform=center-crop) makes it.
train_dataloader = dict(
    batch_size=256,  # images per step on full images, over all GPUs divided by their number
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root='data/celeba-64x64.zip', channels=3),
)
