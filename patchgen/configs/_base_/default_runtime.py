# Runtime shared by every patchgen config: runner, hooks, logging, seed.
default_scope = 'patchgen'
runner_type = 'PatchgenRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),  # metrics at their step
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3),
    nonfinite=dict(type='NonFiniteGuardHook', max_consecutive=50),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    ema=dict(type='HalfLifeEMAHook', halflife_images=500_000, rampup_ratio=0.05),
    sample_grid=dict(type='SampleGridHook', interval=5000, num_images=64),
    preemption=dict(type='PreemptionHook'),  # SIGTERM/SIGUSR1/Ctrl-C: checkpoint, then stop
    watch=dict(type='WatchHook', plots=True),  # images_seen, environment; plots at the end
)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
log_processor = dict(by_epoch=False, window_size=50)
log_level = 'INFO'
# Scalars and sample grids go to every backend; LocalVisBackend writes the scalars.json that
# `patchgen plot` and `patchgen report` read. TensorBoard (pip install 'patchgen[tensorboard]'):
# vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')].
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
randomness = dict(seed=0)  # a fixed seed makes runs repeatable and resumes exact
load_from = None
resume = False
