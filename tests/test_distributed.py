"""Distributed training and sampling with torchrun on the CPU (gloo), as users start them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from conftest import (
    QUICKSTART,
    assert_same_tensors,
    needs_fid_helper,
    needs_mlxtend,
    patchgen,
    tiny_options,
)
from patchgen.engine.loops import StepBatches
from patchgen.engine.optim_wrapper import SafeOptimWrapper
from patchgen.patches import RandomMultiScale
from patchgen.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]


def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=nproc ARGS`` on this machine, on the CPU."""
    env = {**os.environ, 'CUDA_VISIBLE_DEVICES': '', 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone',
                           f'--nproc_per_node={nproc}', *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)


# Trains through `patchgen train --launcher pytorch`, recording each step's patch size and
# crop corners, then saves each rank's final raw weights and records.
TRAIN_AND_RECORD = '''
import json, sys, torch, torch.distributed as dist
from patchgen.cli.train import run_training
from patchgen.patches.samplers import PatchSampler
calls = []
corners = PatchSampler.corners
def recording_corners(self, n, size, device='cpu'):
    top, left = corners(self, n, size, device)
    calls.append([size, torch.cat([top, left]).tolist()])
    return top, left
PatchSampler.corners = recording_corners
work = sys.argv[1]
runner = run_training(sys.argv[2], work, cfg_options=sys.argv[3:], launcher='pytorch')
rank = dist.get_rank()
torch.save(runner.model.module.state_dict(), f'{work}/rank{rank}.pth')
json.dump(dict(calls=calls, world=dist.get_world_size()), open(f'{work}/rank{rank}.json', 'w'))
'''


@needs_mlxtend
def test_two_rank_training_keeps_ranks_identical(tmp_path: Path) -> None:
    script = tmp_path / 'train_and_record.py'
    script.write_text(TRAIN_AND_RECORD)
    work = tmp_path / 'work'
    result = torchrun(str(script), str(work), QUICKSTART,
                      *tiny_options(**{'train_cfg.max_iters': 6})[1:])
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads((work / f'rank{r}.json').read_text()) for r in range(2)]
    assert records[0]['world'] == 2
    sizes = [[size for size, _ in record['calls']] for record in records]
    assert sizes[0] == sizes[1] and len(sizes[0]) == 6  # every step, the same size on both
    assert any(size < 32 for size in sizes[0])
    for (size, first), (_, second) in zip(records[0]['calls'], records[1]['calls']):
        if size < 32:
            assert first != second  # but each rank cuts its own positions
    weights = [torch.load(work / f'rank{r}.pth') for r in range(2)]
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
    ema = torch.load(work / 'iter_6.pth', weights_only=True)['state_dict']
    assert any(not torch.equal(ema[key], weights[0][key]) for key in weights[0])  # they moved


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='PatchDiffusion', image_channels=1, resolution=16, loss_reduction='pixel_sum',
        backbone=dict(type='UNet', base_channels=16, channel_mults=(1, 2), num_blocks=1,
                      attn_resolutions=(8,), dropout=0.0),
        schedule=dict(type='EDM'), weighting=dict(type='LearnedUncertaintyWeighting'),
        sampler=dict(type='HeunSampler', num_steps=3)))
    for param in model.parameters():  # make the zero-initialised layers matter
        torch.nn.init.normal_(param, std=0.05, generator=torch.Generator().manual_seed(1))
    return model


def fixed_batch(n: int, size: int = 8) -> tuple[torch.Tensor, dict]:
    """n uint8 16x16 images and one step's draws: patch corners and per-image noise seeds."""
    generator = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=generator)
    draws = dict(top=torch.randint(0, 16 - size + 1, (n,), generator=generator),
                 left=torch.randint(0, 16 - size + 1, (n,), generator=generator),
                 noise_seeds=torch.randint(0, 2 ** 62, (n,), generator=generator))
    return images, draws


def rows(draws: dict, part: slice) -> dict:
    return {key: value[part] for key, value in draws.items()}


# One SGD step of tiny_model() under DDP or FSDP (argv[3]), each rank on its half of
# fixed_batch(8) in argv[4] micro-batches (gradient accumulation); rank 0 saves the weights.
PARALLEL_STEP = '''
import sys, torch, torch.distributed as dist
sys.path.insert(0, sys.argv[2])
from PIL import Image
from mmengine.registry import init_default_scope
init_default_scope('patchgen')
from patchgen.engine.ddp import PatchDistributedDataParallel
from patchgen.engine.fsdp import PatchFullyShardedDataParallel, whole_state_dicts
from patchgen.engine.optim_wrapper import SafeOptimWrapper
from test_distributed import fixed_batch, rows, tiny_model
dist.init_process_group('gloo')
rank, parts = dist.get_rank(), int(sys.argv[4])
model = (PatchDistributedDataParallel(tiny_model(), broadcast_buffers=False)
         if sys.argv[3] == 'ddp' else PatchFullyShardedDataParallel(tiny_model()))
images, draws = fixed_batch(8)
optim = SafeOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                         accumulative_counts=parts)
optim.initialize_count_status(model, 0, parts)
size = 4 // parts
for start in range(4 * rank, 4 * rank + 4, size):
    part = slice(start, start + size)
    model.train_step({'inputs': images[part], 'patch_size': 8, **rows(draws, part)}, optim)
assert optim.last_update == 'stepped'
with whole_state_dicts([model.module], []):
    weights = model.module.state_dict()
if rank == 0:
    torch.save(weights, sys.argv[1])
'''


@pytest.mark.parametrize('micro_batches', [1, 2])
@pytest.mark.parametrize('wrapper', ['ddp', 'fsdp'])
def test_two_rank_step_equals_one_process_step_on_the_whole_batch(
        tmp_path: Path, wrapper: str, micro_batches: int) -> None:
    script = tmp_path / 'parallel_step.py'
    script.write_text(PARALLEL_STEP)
    result = torchrun(str(script), str(tmp_path / 'parallel.pth'), str(ROOT / 'tests'), wrapper,
                      str(micro_batches))
    assert result.returncode == 0, result.stderr[-3000:]
    model = tiny_model()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    images, draws = fixed_batch(8)
    model.train_step({'inputs': images, 'patch_size': 8, **draws},
                     SafeOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    parallel = torch.load(tmp_path / 'parallel.pth')
    for key, value in model.state_dict().items():
        # The mean of the two ranks' mean losses is the whole batch's mean loss.
        assert type(parallel[key]) is torch.Tensor  # whole, not a shard
        torch.testing.assert_close(parallel[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert any(not torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_gradient_accumulation_equals_one_step_on_both_batches() -> None:
    images, draws = fixed_batch(8)
    whole = tiny_model()
    whole.train_step({'inputs': images, 'patch_size': 8, **draws},
                     SafeOptimWrapper(optimizer=torch.optim.SGD(whole.parameters(), lr=0.1)))
    accumulated = tiny_model()
    optim = SafeOptimWrapper(optimizer=torch.optim.SGD(accumulated.parameters(), lr=0.1),
                             accumulative_counts=2)
    optim.initialize_count_status(accumulated, 0, 2)
    for part in (slice(0, 4), slice(4, 8)):
        accumulated.train_step({'inputs': images[part], 'patch_size': 8, **rows(draws, part)},
                               optim)
    for (key, a), b in zip(whole.state_dict().items(), accumulated.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=key)


def test_patch_sizes_agree_across_ranks_while_positions_differ() -> None:
    sampler = RandomMultiScale(32)
    streams = [StepBatches(iter(lambda: {'inputs': torch.zeros(2, 1, 32, 32)}, None), sampler,
                           seed=7, rank=rank) for rank in (0, 1)]
    corners = {0: [], 1: []}
    sizes = {0: [], 1: []}
    for _ in range(40):
        for rank, stream in enumerate(streams):
            batch = next(stream)  # reseeds the global generators from (seed, step, rank)
            sizes[rank].append(batch['patch_size'])
            corners[rank].append(torch.cat([batch['top'], batch['left'], batch['noise_seeds']]))
    assert sizes[0] == sizes[1] and len(set(sizes[0])) == 3
    assert all(not torch.equal(a, b) for a, b in zip(corners[0], corners[1]))


@needs_mlxtend
def test_two_rank_sampling_writes_the_files_of_one_process(tmp_path: Path) -> None:
    work = tmp_path / 'work'
    trained = patchgen('train', QUICKSTART, '--work-dir', str(work),
                       *tiny_options(**{'train_cfg.max_iters': 2,
                                        'default_hooks.checkpoint.interval': 2}))
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = str(work / 'iter_2.pth')
    args = ['-n', '5', '--batch', '2', '--seed', '10']  # torchrun's parser takes --num as its own
    single = patchgen('sample', checkpoint, *args, '--out', str(tmp_path / 'one'))
    assert single.returncode == 0, single.stderr[-3000:]
    double = torchrun('-m', 'patchgen', 'sample', checkpoint, *args, '--out',
                      str(tmp_path / 'two'), '--grid', str(tmp_path / 'grid.png'))
    assert double.returncode == 0, double.stderr[-3000:]
    assert 'from 2 processes' in double.stdout
    one, two = sorted((tmp_path / 'one').iterdir()), sorted((tmp_path / 'two').iterdir())
    assert [p.name for p in one] == [p.name for p in two] == [f'{s:06d}.png' for s in range(10, 15)]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two))
    assert (tmp_path / 'grid.png').is_file()



# Trains 2 steps with an in-training evaluation of 5 seeds on every rank; a metric records the
# images that mmengine's evaluator hands rank 0 after gathering them from all ranks.
VAL_AND_RECORD = '''
import sys, torch
from mmengine.evaluator import BaseMetric
from patchgen.cli.train import run_training
from patchgen.registry import METRICS
@METRICS.register_module()
class RecordSamples(BaseMetric):
    def process(self, data_batch, data_samples):
        self.results.extend(sample.clone() for sample in data_samples)
    def compute_metrics(self, results):
        torch.save(torch.stack(results), sys.argv[1] + '/val_images.pth')
        return {'recorded': len(results)}
run_training(sys.argv[2], sys.argv[1], cfg_options=sys.argv[3:], launcher='pytorch')
'''


VAL_CONFIG = f'''
_base_ = [{QUICKSTART!r}, {str(ROOT / 'configs/_base_/evaluation/fid_inception.py')!r}]
val_dataloader = dict(batch_size=2, dataset=dict(num=5))  # rank 1 gets seeds 1, 3 and a pad
val_evaluator = [dict(type='RecordSamples')]  # a list replaces the base's
train_cfg = dict(max_iters=2, val_interval=2)
'''


@needs_mlxtend
@pytest.mark.parametrize('wrapper', ['PatchDistributedDataParallel',
                                     'PatchFullyShardedDataParallel'])
def test_in_training_evaluation_gathers_every_seed_from_all_ranks_in_order(
        tmp_path: Path, wrapper: str) -> None:
    script, config = tmp_path / 'val_and_record.py', tmp_path / 'val.py'
    script.write_text(VAL_AND_RECORD)
    config.write_text(VAL_CONFIG)
    work = tmp_path / 'work'
    result = torchrun(str(script), str(work), str(config),
                      *tiny_options(**{'default_hooks.checkpoint.interval': 2,
                                       'train_cfg.max_iters': 2,
                                       'model_wrapper_cfg.type': wrapper})[1:])
    assert result.returncode == 0, result.stderr[-3000:]
    gathered = torch.load(work / 'val_images.pth')  # (5, 1, 32, 32) uint8, from both ranks
    # The same seeds sampled in one process from the checkpoint's EMA weights.
    sampled = patchgen('sample', str(work / 'iter_2.pth'), '-n', '5', '--seed', '0',
                       '--batch', '2', '--out', str(tmp_path / 'samples'))
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    pngs = sorted((tmp_path / 'samples').glob('*.png'))
    expected = torch.from_numpy(np.stack([np.array(Image.open(path)) for path in pngs]))
    assert gathered.shape == (5, 1, 32, 32)
    difference = (gathered[:, 0].int() - expected.int()).abs()
    assert difference.max() <= 1 and difference.float().mean() < 0.01  # rounding at most


@needs_mlxtend
@needs_fid_helper
def test_two_rank_feature_extraction_gives_the_results_of_one_process(tmp_path: Path) -> None:
    # 5 batches of 8: rank 0 reads batches 0, 2, 4 and rank 1 batches 1, 3; one process, also
    # started by torchrun, has the same threads (OMP_NUM_THREADS=1), so results are bitwise equal.
    for nproc in (1, 2):
        made = torchrun('-m', 'patchgen', 'ref', 'mnist5k', '-n', '40', '--batch', '8',
                        '--keep-features', '--out', str(tmp_path / f'ref{nproc}.npz'), nproc=nproc)
        assert made.returncode == 0, made.stderr[-3000:]
    one, two = np.load(tmp_path / 'ref1.npz'), np.load(tmp_path / 'ref2.npz')
    assert one.files == two.files and int(two['num_images']) == 40
    assert all(np.array_equal(one[key], two[key]) for key in one.files)
    noise = tmp_path / 'noise'
    noise.mkdir()
    for index, image in enumerate(torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8)):
        Image.fromarray(image.numpy()).save(noise / f'{index:02d}.png')
    scores = []
    for nproc in (1, 2):  # a reference given as images: both sets are extracted in shards
        scored = torchrun('-m', 'patchgen', 'fid', str(noise), 'mnist5k', '-n', '20',
                          '--batch', '8', '--json', nproc=nproc)
        assert scored.returncode == 0, scored.stderr[-3000:]
        scores.append(json.loads(scored.stdout.strip().splitlines()[-1]))
    assert scores[0] == scores[1] and scores[0]['fid'] > 0


# A tiny class-conditional DiT on MNIST-5k, sharded with FSDP over the ranks.
FSDP_DIT_CONFIG = f'''
_base_ = [{QUICKSTART!r}]
model = dict(num_classes=10, backbone=dict(_delete_=True, type='DiT', depth=2, hidden_size=32,
                                           num_heads=2, token_patch=2))
model_wrapper_cfg = dict(type='PatchFullyShardedDataParallel')
'''


@needs_mlxtend
def test_fsdp_checkpoint_resumes_exactly_and_holds_whole_tensors(tmp_path: Path) -> None:
    config = tmp_path / 'fsdp_dit.py'
    config.write_text(FSDP_DIT_CONFIG)

    def train(work: str, steps: int, *more: str) -> None:
        result = torchrun('-m', 'patchgen', 'train', str(config), '--launcher', 'pytorch',
                          '--work-dir', str(tmp_path / work), *more, '--cfg-options',
                          'train_dataloader.batch_size=4', f'train_cfg.max_iters={steps}',
                          'default_hooks.checkpoint.interval=3', 'model.sampler.num_steps=2',
                          'default_hooks.checkpoint.max_keep_ckpts=2',
                          'default_hooks.sample_grid.num_images=2')
        assert result.returncode == 0, result.stderr[-3000:]
        assert 'parameters in 4 units, sharded over 2 ranks' in result.stdout  # 2 blocks, the
        # rest of the DiT, and the quickstart's learned loss weighting

    train('straight', 6)
    train('resumed', 3)
    train('resumed', 6, '--resume')
    straight = torch.load(tmp_path / 'straight' / 'iter_6.pth', weights_only=False)
    resumed = torch.load(tmp_path / 'resumed' / 'iter_6.pth', weights_only=False)
    for key in ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers'):
        assert_same_tensors(straight[key], resumed[key], key)
    # Whole tensors with the unsharded model's shapes, so one process samples from the file.
    model = MODELS.build(Config.fromfile(config).model)
    assert {k: v.shape for k, v in straight['state_dict'].items()} == {
        k: v.shape for k, v in model.state_dict().items()}
    first = torch.load(tmp_path / 'resumed' / 'iter_3.pth', weights_only=False)
    assert any(not torch.equal(first['state_dict'][k], v)
               for k, v in straight['state_dict'].items())  # steps 4 to 6 changed the weights
    sampled = patchgen('sample', str(tmp_path / 'resumed' / 'iter_6.pth'), '-n', '2',
                       '--class-label', '3', '--out', str(tmp_path / 'samples'))
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert len(list((tmp_path / 'samples').glob('*.png'))) == 2


@needs_mlxtend
def test_time_budget_stops_every_rank_at_the_same_step(tmp_path: Path) -> None:
    # Ranks' own clocks may cross the budget at different steps, and a rank that stopped
    # alone would leave the other waiting in its next all-reduce; the hook uses rank 0's
    # clock. This checks that a 2-rank budgeted run ends, with its snapshot.
    work = tmp_path / 'work'
    result = torchrun('-m', 'patchgen', 'train', QUICKSTART, '--launcher', 'pytorch',
                      '--work-dir', str(work), *tiny_options(**{
                          'train_cfg.max_iters': 100000,
                          'default_hooks.budget.type': 'BudgetHook',
                          'default_hooks.budget.budget': 4}))
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(work / 'budget_1.pth', weights_only=False)
    assert 0 < checkpoint['meta']['iter'] < 100000
