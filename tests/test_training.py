"""Training through the Runner on real data: the loss falls, resume replays the run exactly."""
from pathlib import Path

import torch
from mmengine.config import Config

from conftest import assert_same_tensors, needs_mlxtend
from patchgen.engine import build_runner, load_checkpoint_file
from patchgen.registry import DATASETS

pytestmark = needs_mlxtend


def fixed_eval_loss(model: torch.nn.Module, images: torch.Tensor) -> float:
    """Full-image loss on fixed images, noise levels and noise."""
    torch.manual_seed(0)
    with torch.no_grad():
        return model.loss(images, images.shape[-1])['loss'].item()


def test_loss_falls_on_mnist_within_a_few_dozen_steps(tiny_cfg: Config) -> None:
    tiny_cfg.merge_from_dict({'train_cfg.max_iters': 40, 'default_hooks.checkpoint.interval': 40,
                              'train_dataloader.batch_size': 16})
    tiny_cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=5)]
    runner = build_runner(tiny_cfg)
    dataset = DATASETS.build(tiny_cfg.train_dataloader.dataset)
    images = torch.stack([dataset[i]['inputs'] for i in range(0, 5000, 50)]).float() / 127.5 - 1
    before = fixed_eval_loss(runner.model, images)
    runner.train()
    after = fixed_eval_loss(runner.model, images)
    assert after < 0.7 * before, (before, after)  # measured here: 2087 -> 1092


def train(cfg: Config, work_dir: Path, max_iters: int, resume: bool = False) -> Path:
    cfg = cfg.copy()
    cfg.merge_from_dict({'train_cfg.max_iters': max_iters})
    cfg.work_dir, cfg.resume = str(work_dir), resume
    cfg.experiment_name += f'_{max_iters}_{resume}'
    build_runner(cfg).train()
    return work_dir / f'iter_{max_iters}.pth'


def test_resumed_run_equals_uninterrupted_run(tiny_cfg: Config, tmp_path: Path) -> None:
    straight = load_checkpoint_file(train(tiny_cfg, tmp_path / 'straight', 8))
    train(tiny_cfg, tmp_path / 'split', 4)
    resumed_path = train(tiny_cfg, tmp_path / 'split', 8, resume=True)
    resumed = load_checkpoint_file(resumed_path)
    assert resumed['meta']['iter'] == 8
    for key in ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers'):
        assert_same_tensors(straight[key], resumed[key], key)  # bitwise on the CPU
    raw = straight['ema_state_dict']  # mmengine's EMAHook keeps the raw weights here
    assert any(not torch.equal(ema, raw[f'module.{key}'])
               for key, ema in straight['state_dict'].items())  # the EMA really averaged


def test_time_budget_stops_training_and_snapshots(tiny_cfg: Config) -> None:
    tiny_cfg.merge_from_dict({'train_cfg.max_iters': 100_000,
                              'default_hooks.checkpoint.interval': 100_000})
    tiny_cfg.custom_hooks = [dict(type='TimeBudgetHook', seconds=3, snapshots=2)]
    runner = build_runner(tiny_cfg)
    runner.train()
    assert 0 < runner.iter < 100_000
    first, second = (load_checkpoint_file(Path(tiny_cfg.work_dir) / f'time_{k}.pth')
                     for k in (1, 2))
    assert 1.5 <= first['meta']['train_seconds'] < second['meta']['train_seconds']
    assert second['meta']['train_seconds'] >= 3 and second['meta']['iter'] == runner.iter
