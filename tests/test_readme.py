"""The README's two newcomer commands stay true: CI runs the README's test command verbatim."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The shell commands of the README's first two ```bash blocks."""
    blocks = re.findall(r'```bash\n(.*?)```', (ROOT / 'README.md').read_text(), re.S)
    return [block.strip() for block in blocks[:2]]


def test_ci_runs_the_readme_test_command() -> None:
    quickstart, tests = readme_commands()
    assert 'patchgen quickstart' in quickstart and 'pytest' in tests
    ci_lines = (ROOT / '.ci' / 'run').read_text().splitlines()
    assert tests in ci_lines
