# The paper's AFHQv2-64 recipe (FID 1.93 on the ~5,000-image wild class): DDPM++ as in EDM's
# AFHQv2 recipe (batch 256, lr 2e-4, dropout 0.25), real_p 0.5, horizontal flips before
# cropping. Point the dataset root at a zip of all of AFHQv2 to train on the three classes.
_base_ = ['./celeba64_ddpmpp.py']

train_dataloader = dict(dataset=dict(
    _delete_=True, type='ImageFolderDataset', root='data/afhqv2-wild-64x64.zip', channels=3,
    pipeline=[dict(type='RandomFlip', prob=0.5, direction='horizontal')]))
model = dict(backbone=dict(dropout=0.25))
val_evaluator = [dict(type='FID', reference='data/refs/afhqv2-wild-64x64_tfinception.npz',
                      reference_dataset=dict(type='ImageFolderDataset',
                                             root='data/afhqv2-wild-64x64.zip', channels=3))]
