"""Loading configs, applying ``--cfg-options`` overrides, and the bundled configs."""
from collections.abc import Sequence
from pathlib import Path

from mmengine.config import Config, DictAction

from patchgen.errors import PatchgenError

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'


def parse_cfg_options(items: Sequence[str]) -> dict:
    """Parse ``key=value`` overrides; values are read as mmengine's ``--cfg-options`` reads them."""
    options = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise PatchgenError(f'--cfg-options expects key=value, got {item!r}: write e.g. '
                                f'train_cfg.max_iters=100')
        options[key] = DictAction._parse_iterable(value)
    return options


def load_config(path: str | Path, cfg_options: dict | None = None) -> Config:
    """Read a Python config file and merge ``cfg_options`` into it."""
    path = Path(path)
    if not path.is_file():
        raise PatchgenError(f'config file {path} does not exist: give the path of a Python '
                            f'config, e.g. configs/quickstart.py')
    cfg = Config.fromfile(str(path))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def bundled_config(name: str) -> Path:
    """Path of a config shipped in the source tree's ``configs/`` folder."""
    path = CONFIG_DIR / name
    if not path.is_file():
        raise PatchgenError(f'bundled config {name} not found in {CONFIG_DIR}: install patchgen '
                            f'from its source tree with `pip install -e .`')
    return path
