# Adam with a linear warm-up and no decay (EDM's), and the training loop, which owns the patch
# plan: each step's patch size (the paper's mix, real_p 0.5), crop corners and noise draws.
# AutocastOptimWrapper skips steps with non-finite loss or gradients; dtype='auto' times a step
# in fp32 and in bf16 before training and takes bf16 only where it is 1.1x faster.
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='auto',
                     optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.999), eps=1e-8,
                                    fused=True))  # one kernel for all parameters
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=10_000)]
train_cfg = dict(type='PatchTrainLoop', max_iters=100_000,  # optimizer steps
                 patch_sampler=dict(type='RandomMultiScale', real_p=0.5))
