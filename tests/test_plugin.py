"""A backbone from an out-of-tree package trains and samples without any change to patchgen."""
import os
import subprocess
import sys
from pathlib import Path

from conftest import needs_mlxtend
from patchgen.engine.checkpoint import load_checkpoint_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / 'examples' / 'custom_backbone'


def patchgen_with_plugin(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [str(EXAMPLE), os.environ.get('PYTHONPATH', '')])}
    return subprocess.run([sys.executable, '-m', 'patchgen', *args], capture_output=True,
                          text=True, timeout=600, env=env)


@needs_mlxtend
def test_custom_backbone_package_trains_and_samples(tmp_path: Path) -> None:
    work = tmp_path / 'work'
    trained = patchgen_with_plugin(
        'train', str(EXAMPLE / 'config.py'), '--work-dir', str(work), '--cfg-options',
        'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3',
        'train_dataloader.batch_size=4', 'default_hooks.sample_grid.num_images=4')
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = load_checkpoint_file(work / 'iter_3.pth')
    assert any(key.startswith('backbone.noise_mlp') for key in checkpoint['state_dict'])
    sampled = patchgen_with_plugin('sample', str(work / 'iter_3.pth'), '--num', '2', '--steps',
                                   '2', '--out', str(tmp_path / 'samples'))
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert len(list((tmp_path / 'samples').glob('*.png'))) == 2


def test_custom_backbone_package_runs_the_backbone_contract() -> None:
    result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                             str(EXAMPLE)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert '5 passed' in result.stdout, result.stdout[-3000:]
