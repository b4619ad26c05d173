"""Pre-emption: a stop signal ends training after the step with a checkpoint, and resuming
from it replays an uninterrupted run exactly."""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from test_distributed import torchrun

from conftest import QUICKSTART, assert_same_tensors, needs_mlxtend, patchgen, tiny_options
from patchgen.engine import PreemptionHook, build_runner, load_checkpoint_file

STOPPED = re.compile(r'SIGTERM received: stopped after step (\d+) of 30 with checkpoint (\S+);')
LOGGED_STEP = re.compile(r'Iter\(train\) \[\s*(\d+)/30\]')  # the logger pads: [ 1/30]


def logged_steps(log: str) -> list[int]:
    return [int(step) for step in LOGGED_STEP.findall(log)]


class SignalAt(Hook):
    """Sends this process ``signals`` (one after another) after step ``step``."""

    def __init__(self, step: int, *signals: int) -> None:
        self.step = step
        self.signals = signals

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.step:
            for number in self.signals:
                os.kill(os.getpid(), number)  # Python runs the handler before the next line


def train_with_signals(cfg: Config, *signals: int) -> object:
    cfg.merge_from_dict({'train_cfg.max_iters': 6})
    runner = build_runner(cfg)
    runner.register_hook(SignalAt(2, *signals), priority='HIGHEST')
    runner.train()
    return runner


# Trains under torchrun; rank 0 alone gets SIGTERM after step 2; each rank records its last step.
TRAIN_SIGNALLING_RANK_0 = '''
import json, os, signal, sys
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from patchgen.config import load_config, parse_cfg_options
from patchgen.engine import build_runner
class SignalRankZero(Hook):
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if get_rank() == 0 and runner.iter + 1 == 2:
            os.kill(os.getpid(), signal.SIGTERM)
work = sys.argv[1]
cfg = load_config(sys.argv[2], parse_cfg_options(sys.argv[3:]))
cfg.work_dir, cfg.launcher = work, 'pytorch'
runner = build_runner(cfg)
runner.register_hook(SignalRankZero(), priority='HIGHEST')
runner.train()
json.dump(runner.iter, open(f'{work}/rank{get_rank()}.json', 'w'))
'''


@needs_mlxtend
def test_sigterm_mid_run_then_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    options = tiny_options(**{'train_cfg.max_iters': 30})
    command = [sys.executable, '-m', 'patchgen', 'train', QUICKSTART, *options]
    split = tmp_path / 'split'
    # the thread count of the runs below (bitwise equality needs the same one)
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    with subprocess.Popen([*command, '--work-dir', str(split)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env) as process:
        for line in process.stdout:  # poll the log: signal once the first step is logged
            if logged_steps(line) == [1]:
                process.send_signal(signal.SIGTERM)
                break
        output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-3000:]
    stopped = STOPPED.search(output)
    assert stopped is not None, output[-3000:]
    step, checkpoint = int(stopped.group(1)), Path(stopped.group(2))
    assert 1 <= step < 30 and checkpoint == split / f'iter_{step}.pth' and checkpoint.is_file()
    assert (split / 'last_checkpoint').read_text().strip() == str(checkpoint)
    assert load_checkpoint_file(checkpoint)['meta']['iter'] == step
    assert logged_steps(output) == list(range(2, step + 1))  # none after the signal's step

    resumed = patchgen('train', QUICKSTART, '--work-dir', str(split), '--resume', *options)
    straight = patchgen('train', QUICKSTART, '--work-dir', str(tmp_path / 'straight'), *options)
    assert resumed.returncode == 0 and straight.returncode == 0, resumed.stderr + straight.stderr
    assert logged_steps(resumed.stdout + resumed.stderr) == list(range(step + 1, 31))
    a, b = (load_checkpoint_file(tmp_path / run / 'iter_30.pth') for run in ('split', 'straight'))
    for key in ('state_dict', 'ema_state_dict', 'optimizer'):
        assert_same_tensors(a[key], b[key], key)  # bitwise on the CPU


@needs_mlxtend
@pytest.mark.parametrize('start', ['fork', 'spawn'])
def test_sigterm_to_every_process_of_the_job_with_dataloader_workers_still_saves(
        tmp_path: Path, start: str) -> None:
    """SLURM signals every process of a job step, DataLoader workers included: they must
    outlive the signal so that the main process can finish its step and save, and still end
    when it exits."""
    options = tiny_options(**{'train_cfg.max_iters': 30, 'train_dataloader.num_workers': 2,
                              'train_dataloader.multiprocessing_context': start})
    command = [sys.executable, '-m', 'patchgen', 'train', QUICKSTART, *options,
               '--work-dir', str(tmp_path)]
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, start_new_session=True) as process:
        try:
            for line in process.stdout:
                if logged_steps(line) == [2]:  # each worker gave a batch: signal the whole group
                    os.killpg(process.pid, signal.SIGTERM)
                    break
            output = process.communicate(timeout=120)[0]  # and the workers end at exit
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # leave nothing behind on a failure
    assert process.returncode == 0, output[-3000:]
    stopped = STOPPED.search(output)
    assert stopped is not None, output[-3000:]
    assert load_checkpoint_file(Path(stopped.group(2)))['meta']['iter'] == int(stopped.group(1))


@needs_mlxtend
def test_under_torchrun_every_rank_stops_after_rank_0s_signal(tmp_path: Path) -> None:
    script, work = tmp_path / 'train.py', tmp_path / 'work'
    script.write_text(TRAIN_SIGNALLING_RANK_0)
    result = torchrun(str(script), str(work), QUICKSTART,
                      *tiny_options(**{'train_cfg.max_iters': 6})[1:])
    assert result.returncode == 0, result.stderr[-3000:]
    assert [json.loads((work / f'rank{r}.json').read_text()) for r in range(2)] == [2, 2]
    assert load_checkpoint_file(work / 'iter_2.pth')['meta']['iter'] == 2


@needs_mlxtend
@pytest.mark.parametrize('number', [signal.SIGUSR1, signal.SIGINT], ids=['SIGUSR1', 'SIGINT'])
def test_a_stop_signal_saves_after_its_step_and_restores_the_handlers(
        tiny_cfg: Config, number: int) -> None:
    before = {n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    runner = train_with_signals(tiny_cfg, number)
    assert runner.iter == 2
    work = Path(tiny_cfg.work_dir)
    assert load_checkpoint_file(work / 'iter_2.pth')['meta']['iter'] == 2
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_2.pth')
    assert {n: signal.getsignal(n) for n in before} == before


@needs_mlxtend
def test_without_a_checkpoint_hook_the_stop_still_saves(tiny_cfg: Config) -> None:
    tiny_cfg.default_hooks.checkpoint = None
    runner = train_with_signals(tiny_cfg, signal.SIGTERM)
    assert runner.iter == 2
    assert load_checkpoint_file(Path(tiny_cfg.work_dir) / 'iter_2.pth')['meta']['iter'] == 2


@needs_mlxtend
def test_a_second_sigint_stops_at_once(tiny_cfg: Config) -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train_with_signals(tiny_cfg, signal.SIGINT, signal.SIGINT)
    assert not (Path(tiny_cfg.work_dir) / 'iter_2.pth').exists()  # stopped inside step 2
    assert signal.getsignal(signal.SIGINT) is before


def test_outside_the_main_thread_no_handlers_are_installed() -> None:
    warnings: list[str] = []
    runner = SimpleNamespace(logger=SimpleNamespace(warning=warnings.append))
    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=PreemptionHook().before_train, args=(runner,))
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGTERM) is before
    assert len(warnings) == 1 and 'not caught' in warnings[0]
