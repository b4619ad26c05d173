# In-training evaluation: every `train_cfg.val_interval` steps, sample `num` images with the EMA
# weights and compute FID (TF-Inception; `pip install 'patchgen[eval]'`) against reference
# statistics cached at `reference` (made from `reference_dataset` on first use). A config using
# this sets `reference` and `reference_dataset` (with the training pipeline),
# `train_cfg.val_interval`, and `default_hooks.checkpoint.save_best='fid'` to keep the best
# checkpoint.
# Turn it off with --cfg-options val_cfg=None val_dataloader=None val_evaluator=None.
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),  # splits the seeds across ranks
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='SeedDataset', num=1000),
)
val_evaluator = [dict(type='FID', reference=None, reference_dataset=None)]
val_cfg = dict(type='ValLoop')
