# Fashion-MNIST 32x32, full-image baseline: configs/fmnist32_patch.py with the patch sampler
# replaced by full images (multiplier 1). Nothing else differs.
_base_ = ['./fmnist32_patch.py']

train_cfg = dict(patch_sampler=dict(_delete_=True, type='FullImage'))
