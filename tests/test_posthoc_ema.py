"""Post-hoc EMA (EDM2): power-function averages, snapshots, reconstruction, resume, errors."""
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import assert_one_line_error, needs_mlxtend, patchgen
from patchgen.checkpoint_file import load_checkpoint_file, save_checkpoint_file
from patchgen.ema_reconstruction import gamma_to_sigma_rel, sigma_rel_to_gamma
from patchgen.engine import PostHocEMAHook, build_runner
from patchgen.engine.posthoc_ema import find_snapshots, reconstruct_checkpoint
from patchgen.errors import PatchgenError
from patchgen.inference import load_model


class Walker(torch.nn.Module):
    """Weights that random-walk: one (16,) parameter and a step-counting buffer."""

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(16, dtype=dtype))
        self.register_buffer('count', torch.zeros((), dtype=torch.long))


def fake_runner(work_dir: Path, model: torch.nn.Module) -> SimpleNamespace:
    return SimpleNamespace(model=model, work_dir=str(work_dir), iter=0,
                           logger=logging.getLogger('test_posthoc_ema'))


def walk(runner: SimpleNamespace, hooks: list[PostHocEMAHook], steps: int,
         seed: int = 0) -> list[torch.Tensor]:
    """Take ``steps`` random steps (seeded by the step index), updating ``hooks`` after each;
    returns the weights after each step."""
    history = []
    for _ in range(steps):
        generator = torch.Generator().manual_seed(seed * 100_000 + runner.iter)
        with torch.no_grad():
            runner.model.w += torch.randn(16, generator=generator, dtype=runner.model.w.dtype)
            runner.model.count += 1
        for hook in hooks:
            hook.after_train_iter(runner, runner.iter)
        runner.iter += 1
        history.append(runner.model.w.detach().clone())
    return history


def trained(work_dir: Path, steps: int, sigma_rels=(0.05, 0.10), interval: int = 10,
            extra: tuple[float, ...] = ()) -> tuple[PostHocEMAHook, list[PostHocEMAHook]]:
    """A random walk with snapshots in ``work_dir`` and a training checkpoint after it;
    ``extra`` profiles are tracked directly (no snapshots)."""
    runner = fake_runner(work_dir, Walker())
    hook = PostHocEMAHook(sigma_rels, snapshot_interval=interval)
    direct = [PostHocEMAHook((s,), snapshot_interval=10 ** 9) for s in extra]
    for each in (hook, *direct):
        each.before_train(runner)
    walk(runner, [hook, *direct], steps)
    save_checkpoint_file(dict(meta=dict(iter=steps), state_dict=runner.model.state_dict()),
                         work_dir / f'iter_{steps}.pth')
    return hook, direct


def test_power_ema_update_is_the_integrated_power_profile() -> None:
    # Paper values: sigma_rel 0.05 and 0.10 are gamma 16.97 and 6.94.
    assert abs(sigma_rel_to_gamma(0.05) - 16.97) < 0.005
    assert abs(sigma_rel_to_gamma(0.10) - 6.94) < 0.005
    for sigma_rel in (0.01, 0.05, 0.1, 0.2, 12 ** -0.5):
        assert abs(gamma_to_sigma_rel(sigma_rel_to_gamma(sigma_rel)) - sigma_rel) < 1e-12
    # A scalar sequence: after T steps, x_tau weighs (tau^(g+1) - (tau-1)^(g+1)) / T^(g+1).
    runner = fake_runner(Path('unused'), Walker(torch.float64))
    hook = PostHocEMAHook((0.05, 0.2), snapshot_interval=10 ** 9)
    hook.before_train(runner)
    history = torch.stack(walk(runner, [hook], 50))[:, 0].numpy()  # (T,)
    tau = np.arange(1, 51, dtype=float)
    for gamma, average in zip(hook.gammas, hook.averages, strict=True):
        weights = (tau ** (gamma + 1) - (tau - 1) ** (gamma + 1)) / 50 ** (gamma + 1)
        assert abs(average['w'][0].item() - weights @ history) < 1e-10


def test_reconstructing_a_tracked_profile_gives_its_weights(tmp_path: Path) -> None:
    hook, _ = trained(tmp_path, 300)
    assert len(find_snapshots(tmp_path)) == 2 * 30
    for sigma_rel, average in zip(hook.sigma_rels, hook.averages, strict=True):
        checkpoint = reconstruct_checkpoint(tmp_path, sigma_rel)
        assert checkpoint['meta']['posthoc_ema']['fit_error'] < 1e-6
        error = (checkpoint['state_dict']['w'] - average['w']).abs().max().item()
        assert error <= 1e-6 * average['w'].abs().max().item()  # measured: 0 (a unit vector)
        assert checkpoint['state_dict']['count'].item() == 300


def test_reconstructing_an_intermediate_profile_matches_tracking_it(tmp_path: Path) -> None:
    hook, direct = trained(tmp_path, 300, extra=(0.075, 0.15))
    short, long = (average['w'] for average in hook.averages)
    for tracked in direct:
        target = tracked.averages[0]['w']
        rebuilt = reconstruct_checkpoint(tmp_path, tracked.sigma_rels[0])['state_dict']['w']
        # measured: 0.009% (0.075) and 0.018% (0.15, beyond the tracked 0.10) of |short - long|
        assert (rebuilt - target).norm() < 0.002 * (short - long).norm()
    rebuilt = reconstruct_checkpoint(tmp_path, 0.075)['state_dict']['w']
    assert (rebuilt - short).norm() < (long - short).norm()  # between the tracked two
    assert (rebuilt - long).norm() < (long - short).norm()


def test_state_survives_a_checkpoint_round_trip_and_resume_replays(tmp_path: Path) -> None:
    straight, _ = trained(tmp_path / 'straight', 300)
    runner = fake_runner(tmp_path / 'split', Walker())
    first = PostHocEMAHook(snapshot_interval=10)
    first.before_train(runner)
    walk(runner, [first], 150)
    checkpoint = dict(state_dict=runner.model.state_dict())
    first.before_save_checkpoint(runner, checkpoint)
    save_checkpoint_file(checkpoint, tmp_path / 'iter_150.pth')
    walk(runner, [first], 30)  # then the run dies at step 180
    loaded = load_checkpoint_file(tmp_path / 'iter_150.pth')  # plain data: weights_only load
    model = Walker()
    model.load_state_dict(loaded['state_dict'])
    runner = fake_runner(tmp_path / 'split', model)
    runner.iter = 150
    second = PostHocEMAHook(snapshot_interval=10)
    second.after_load_checkpoint(runner, loaded)
    second.before_train(runner)
    assert max(step for step, _, _ in find_snapshots(runner.work_dir)) == 150  # 160-180 deleted
    walk(runner, [second], 150)
    for ours, theirs in zip(second.averages, straight.averages, strict=True):
        assert torch.equal(ours['w'], theirs['w'])
    assert [s[:2] for s in find_snapshots(runner.work_dir)] == \
        [s[:2] for s in find_snapshots(tmp_path / 'straight')]
    with pytest.raises(PatchgenError, match='sigma_rels'):
        PostHocEMAHook((0.05, 0.2)).after_load_checkpoint(runner, loaded)
    with pytest.raises(PatchgenError, match='without its averages'):
        PostHocEMAHook().before_train(runner)  # resuming at step 300 with no state


def test_bad_input_is_a_one_line_error(tmp_path: Path) -> None:
    assert_one_line_error(patchgen('ema', 'reconstruct', str(tmp_path), '--sigma-rel', '0.1',
                                   '--out', str(tmp_path / 'ema.pth')),
                          'no post-hoc EMA snapshots', 'PostHocEMAHook')
    for sigma_rel in (0.0, 0.3, -0.1):
        with pytest.raises(PatchgenError, match=r'sigma_rel must be in \(0, 0.2887\]'):
            reconstruct_checkpoint(tmp_path, sigma_rel)
    with pytest.raises(PatchgenError, match='distinct sigma_rels'):
        PostHocEMAHook((0.1, 0.1))
    with pytest.raises(PatchgenError, match='sigma_rel must be in'):
        PostHocEMAHook((0.05, 0.5))


@needs_mlxtend
def test_training_snapshots_and_reconstruct_writes_a_sampling_checkpoint(
        tiny_cfg: Config, tmp_path: Path) -> None:
    tiny_cfg.merge_from_dict({'train_cfg.max_iters': 4})
    tiny_cfg.custom_hooks = [dict(type='PostHocEMAHook', snapshot_interval=2)]
    build_runner(tiny_cfg).train()
    work_dir = Path(tiny_cfg.work_dir)
    assert [s[:2] for s in find_snapshots(work_dir)] == [(2, 0.05), (2, 0.1), (4, 0.05), (4, 0.1)]
    result = patchgen('ema', 'reconstruct', str(work_dir), '--sigma-rel', '0.1',
                      '--out', str(tmp_path / 'ema.pth'))
    assert result.returncode == 0, result.stderr
    assert 'at step 4 from 4 snapshots' in result.stdout
    model = load_model(tmp_path / 'ema.pth')  # what `patchgen sample` reads
    tracked = load_checkpoint_file(work_dir / 'posthoc_ema' / 'phema-000000004-0.1.pth')
    for key, value in tracked['state_dict'].items():
        assert torch.allclose(model.state_dict()[key], value, rtol=1e-5, atol=1e-7), key
    assert 'posthoc_ema_state' in load_checkpoint_file(work_dir / 'iter_4.pth')
