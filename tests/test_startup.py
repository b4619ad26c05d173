"""The CLI answers --help without loading torch or mmengine, and the layers import downward."""
import subprocess
import sys

import pytest

HEAVY = ('torch', 'torchvision', 'scipy', 'mmengine.runner', 'patchgen.engine',
         'patchgen.evaluation')


def imported_by(statement: str, packages: tuple[str, ...]) -> list[str]:
    """The modules of ``packages`` (with submodules) that ``statement`` imports in a new process."""
    code = (f'import sys\n{statement}\n'
            f'print(*sorted(m for m in sys.modules '
            f'if any(m == p or m.startswith(p + ".") for p in {packages!r})))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_the_cli_starts_without_heavy_modules() -> None:
    assert imported_by('import patchgen.cli.main', HEAVY) == []


@pytest.mark.parametrize('module', ['patchgen.evaluation', 'patchgen.inference',
                                    'patchgen.checkpoint_file', 'patchgen.seeding'])
def test_lower_layers_import_nothing_from_engine(module: str) -> None:
    assert imported_by(f'import {module}', ('patchgen.engine',)) == []
