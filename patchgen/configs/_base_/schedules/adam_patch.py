# Adam with a linear warm-up and no decay (EDM's), and the training loop, which owns the patch
# plan: each step's patch size (the paper's mix, real_p 0.5), crop corners and noise draws.
# AutocastOptimWrapper skips steps with non-finite loss or gradients. dtype='auto' would time
# the run's steps in fp32 and bf16 and take bf16 where it is 1.1x faster: on an AMD EPYC with
# AVX512-BF16 it was 1.2x faster, but one of two 635-step Fashion-MNIST runs in bf16 lost 5.8 FID
# (benchmarks/README.md), so the configs train in fp32; 'auto' or 'bfloat16' is one override away.
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='float32',
                     optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.999), eps=1e-8,
                                    fused=True))  # one kernel for all parameters
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=10_000)]
train_cfg = dict(type='PatchTrainLoop', max_iters=100_000,  # optimizer steps
                 patch_sampler=dict(type='RandomMultiScale', real_p=0.5))
