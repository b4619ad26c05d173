"""patchgen ema sweep: a metric of the post-hoc EMA for each of several lengths, the best marked."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from typer.testing import CliRunner

from conftest import assert_one_line_error, needs_mlxtend, patchgen
from patchgen.cli.main import app
from patchgen.ema_sweep import check_sweep
from patchgen.engine import build_runner
from patchgen.errors import PatchgenError
from patchgen.evaluation import FeatureExtractor, Features
from patchgen.evaluation.compute import source_stats
from patchgen.registry import FEATURE_EXTRACTORS


@FEATURE_EXTRACTORS.register_module(force=True)
class QuarterMeans(FeatureExtractor):
    """A cheap stand-in extractor: the mean grey level of each quarter of an image."""

    metric_suffix = '_quarters'
    fingerprint = 'quarter-means-v1'

    def forward(self, images: torch.Tensor) -> Features:
        quarters = torch.nn.functional.adaptive_avg_pool2d(images.float()[:, :1], 2)  # (N,1,2,2)
        return Features(features=quarters.flatten(1) / 255, logits=None)  # (N, 4)


@needs_mlxtend
def test_sweep_scores_each_length_and_marks_the_best(tiny_cfg: Config, tmp_path: Path) -> None:
    tiny_cfg.merge_from_dict({'train_cfg.max_iters': 4})
    tiny_cfg.custom_hooks = [dict(type='PostHocEMAHook', snapshot_interval=2)]
    build_runner(tiny_cfg).train()
    real = tmp_path / 'real'
    real.mkdir()
    for k, pixels in enumerate(np.random.default_rng(0).integers(0, 256, (12, 32, 32))):
        Image.fromarray(pixels.astype(np.uint8)).save(real / f'{k}.png')
    source_stats(str(real), features='QuarterMeans').save(tmp_path / 'ref.npz')

    def sweep(reference: Path, out: str) -> str:
        result = CliRunner().invoke(app, [
            'ema', 'sweep', tiny_cfg.work_dir, '--sigma-rels', '0.2,0.05,0.1', '--num-samples',
            '6', '--steps', '2', '--features', 'QuarterMeans', '--reference', str(reference),
            '--out', str(tmp_path / out)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    output = sweep(tmp_path / 'ref.npz', 'sweep')
    record = json.loads((tmp_path / 'sweep' / 'sweep.json').read_text())
    rows = record['rows']
    assert record['metric'] == 'fd_quarters'
    assert [row['sigma_rel'] for row in rows] == [0.05, 0.1, 0.2]  # one row per length
    assert all(row['fit_error'] < 1e-6 for row in rows[:2])  # the tracked lengths
    values = [row['fd_quarters'] for row in rows]
    assert all(np.isfinite(values)) and len(set(values)) == 3  # each length its own samples
    assert record['best'] == min(rows, key=lambda row: row['fd_quarters'])
    assert Image.open(tmp_path / 'sweep' / 'sweep.png').size[0] > 300
    assert f'best (*): sigma_rel {record["best"]["sigma_rel"]:g}, fd_quarters' in output
    sweep(real, 'from_images')  # real images as the reference: their statistics, made once
    again = json.loads((tmp_path / 'from_images' / 'sweep.json').read_text())['rows']
    assert [row['fd_quarters'] for row in again] == pytest.approx(values, rel=1e-6)


def test_bad_sweeps_are_refused_before_sampling(tmp_path: Path) -> None:
    with pytest.raises(PatchgenError, match=r'sigma_rel must be in \(0, 0.2887\]'):
        check_sweep([0.05, 0.4], 'fid', None)
    with pytest.raises(PatchgenError, match="metric 'pr' cannot rank"):
        check_sweep([0.05], 'pr', None)
    with pytest.raises(PatchgenError, match='fid needs a reference'):
        check_sweep([0.05], 'fid', None)
    with pytest.raises(PatchgenError, match='does not exist'):
        check_sweep([0.05], 'fid', str(tmp_path / 'missing.npz'))
    assert_one_line_error(patchgen('ema', 'sweep', str(tmp_path), '--sigma-rels', '0.05,x'),
                          '--sigma-rels takes comma-separated numbers')
    assert_one_line_error(patchgen('ema', 'sweep', str(tmp_path), '--metric', 'is'),
                          'no post-hoc EMA snapshots')
