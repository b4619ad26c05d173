"""A non-editable install (a wheel) carries the bundled configs: the quickstart runs from it."""
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import needs_mlxtend

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                            timeout=600, **kwargs)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result


@needs_mlxtend
def test_wheel_installs_and_runs_the_quickstart_outside_the_source_tree(tmp_path: Path) -> None:
    run(sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--quiet',
        '-w', tmp_path / 'dist', ROOT)
    (wheel,) = (tmp_path / 'dist').glob('patchgen-*.whl')
    env = tmp_path / 'env'
    run(sys.executable, '-m', 'venv', env)
    python = env / 'bin' / 'python'
    site = Path(run(python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
                .stdout.strip())
    # The fresh environment reuses this one's dependencies (torch, mmengine, ...), after its own.
    (site / 'dependencies.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    run(python, '-m', 'pip', 'install', '--no-deps', '--no-index', '--quiet', wheel)
    clean = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH'}
    where = run(python, '-c', 'import patchgen; print(patchgen.__file__)', cwd=tmp_path, env=clean)
    assert where.stdout.strip().startswith(str(env))  # the wheel, not the source tree
    result = run(env / 'bin' / 'patchgen', 'quickstart', '--work-dir', tmp_path / 'run',
                 '--cfg-options', 'train_cfg.max_iters=2', 'model.backbone.base_channels=8',
                 'default_hooks.sample_grid.num_images=4', 'default_hooks.checkpoint.interval=2',
                 cwd=tmp_path, env={**clean, 'OMP_NUM_THREADS': '1'})
    assert (tmp_path / 'run' / 'iter_2.pth').is_file(), result.stdout[-2000:]
    assert 'sample grid:' in result.stdout
