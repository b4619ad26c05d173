"""Loading configs, applying ``--cfg-options`` overrides, and the bundled configs."""
import ast
import difflib
import functools
import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from patchgen.errors import PatchgenError
from patchgen.registry import ALL_REGISTRIES, SCOPE_ONLY

CONFIG_DIR = Path(__file__).resolve().parent / 'configs'  # shipped in the package


def parse_cfg_options(items: Sequence[str]) -> dict:
    """Parse ``key=value`` overrides; values are read as mmengine's ``--cfg-options`` reads them,
    except that a value holding dicts (``[dict(type='A'), dict(type='B')]``) is read as Python."""
    options = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise PatchgenError(f'--cfg-options expects key=value, got {item!r}: write e.g. '
                                f'train_cfg.max_iters=100')
        options[key] = (python_value(key, value) if 'dict(' in value or '{' in value
                        else DictAction._parse_iterable(value))
    return options


def python_value(key: str, text: str) -> Any:
    """The plain data that ``text`` writes as Python (see :func:`plain_value`)."""
    try:
        return plain_value(ast.parse(text.strip(), mode='eval').body)
    except (SyntaxError, ValueError):
        raise PatchgenError(f'--cfg-options {key}: cannot read {text!r}: write dicts of plain '
                            f"values, strings quoted: [dict(type='LocalVisBackend')]") from None


@functools.cache
def runner_keys() -> frozenset[str]:
    """Top-level keys a config may add although no bundled config sets them (the Runner reads
    the last three from the config itself)."""
    from mmengine.runner import Runner  # here, not at the top: it is slow to import
    return frozenset(inspect.signature(Runner.__init__).parameters) | {
        'runner_type', 'default_scope', 'trust_checkpoint', 'custom_imports', 'model_wrapper_cfg',
        'find_unused_parameters', 'sync_bn'}


def component_class(type_name: Any) -> type | None:
    """The class a config's ``type`` names, from any registry; None when not found."""
    if not isinstance(type_name, str):
        return type_name if isinstance(type_name, type) else None
    for registry in [*ALL_REGISTRIES.values(), *SCOPE_ONLY.values()]:
        registry.import_from_location()
        found = registry.get(type_name)
        if found is not None:
            return found
    return None


def accepted_options(cls: type) -> set[str] | None:
    """Names ``cls(...)`` accepts, following ``**kwargs`` up the MRO; None if open-ended."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names.update(p.name for p in parameters if p.kind is not p.VAR_KEYWORD)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return names - {'self'}
    return None


def unknown_key_error(key: str, where: str, name: str, known: set[str]) -> PatchgenError:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    hint = f'did you mean {", ".join(close)}?' if close else f'known: {", ".join(sorted(known))}'
    return PatchgenError(f'--cfg-options {key}: {where} has no option {name!r}; {hint}')


def check_override(cfg: Config, key: str, value: Any) -> None:
    """Refuse an override whose key is unknown (with close matches) or whose type is wrong.

    A new key is accepted where the config can take it: a constructor argument
    of the component (``type=``) it goes in, a Runner argument at the top, or
    a new sub-dict; a new plain key that resembles an existing one is refused.
    """
    node: Any = cfg.to_dict()
    parts = key.split('.')
    for depth, name in enumerate(parts):
        where = '.'.join(parts[:depth]) or 'the config'
        if isinstance(node, list | tuple):
            if not name.isdigit() or int(name) >= len(node):
                raise PatchgenError(f'--cfg-options {key}: {where} is a list of {len(node)}; '
                                    f'index it with 0..{len(node) - 1}')
            node = node[int(name)]
            continue
        if not isinstance(node, dict):
            raise PatchgenError(f'--cfg-options {key}: {where} is {node!r}, not a dict')
        if name in node:
            node = node[name]
            continue
        if depth == 0:
            if name not in runner_keys():
                raise unknown_key_error(key, where, name, set(node) | runner_keys())
        elif 'type' in node:
            cls = component_class(node['type'])
            options = accepted_options(cls) if cls is not None else None
            if options is not None and name not in options:
                raise unknown_key_error(key, f'{where} ({cls.__name__})', name, options)
        elif depth == len(parts) - 1 and difflib.get_close_matches(name, list(node), cutoff=0.8):
            raise unknown_key_error(key, where, name, set(node))
        return  # a new key: nothing to compare its value with
    check_value_type(key, node, value)


def check_value_type(key: str, old: Any, new: Any) -> None:
    """Refuse replacing a number, flag, string or dict with a value of another kind (or None)."""
    if new is None:
        return  # switching a part off
    kinds = ((bool, 'true or false'), ((int, float), 'a number'), (str, 'a string'),
             (dict, 'a dict (set its keys one by one)'))
    for kind, described in kinds:
        if isinstance(old, kind):
            fits = isinstance(new, kind) and (kind is bool or not isinstance(new, bool))
            if not fits:
                raise PatchgenError(f'--cfg-options {key}={new!r}: expected {described}, like '
                                    f'the config\'s {old!r}')
            return


def bundled_names() -> list[str]:
    """Names of the configs shipped with patchgen (``quickstart``, ``features/...``)."""
    return sorted(str(p.relative_to(CONFIG_DIR).with_suffix('')) for p in CONFIG_DIR.rglob('*.py')
                  if '_base_' not in p.parts)


def resolve_config(name: str | Path) -> Path:
    """The config file ``name`` names: a path when that file exists, else the bundled config
    of that name (``quickstart``, ``fmnist32_patch.py``, ``configs/fmnist32_full.py``,
    ``features/fmnist_classifier``), found in any install of patchgen."""
    path = Path(name)
    if path.is_file():
        return path
    if path.is_dir():
        raise PatchgenError(f'config {name} is a folder: give the path of a Python config file')
    relative = Path(*path.parts[1:]) if path.parts[:1] == ('configs',) else path  # configs/NAME
    bundled = CONFIG_DIR / relative.with_suffix('.py')
    if not path.is_absolute() and bundled.is_file():
        return bundled
    raise PatchgenError(f'config file {name} does not exist and is no bundled config: give the '
                        f'path of a Python config or a bundled name ({", ".join(bundled_names())})')


def load_config(path: str | Path, cfg_options: dict | None = None) -> Config:
    """Read a Python config (a file, or a bundled config's name) and merge ``cfg_options``."""
    file = resolve_config(path)
    try:
        cfg = Config.fromfile(str(file))
    except Exception as error:  # noqa: BLE001 (a config file is user input: any error is its)
        reason = ' '.join(str(error).split())[:200]
        raise PatchgenError(f'config {file} cannot be read ({type(error).__name__}: {reason}): '
                            f'fix the file or give another config') from error
    if not cfg.keys():
        raise PatchgenError(f'config {file} sets nothing: give a config that sets model, data '
                            f'and schedule (e.g. {CONFIG_DIR / "quickstart.py"})')
    # Types first, so that options of a newly chosen type are checked against it.
    for key, value in sorted((cfg_options or {}).items(), key=lambda kv: kv[0] != 'type'
                             and not kv[0].endswith('.type')):
        check_override(cfg, key, value)
        cfg.merge_from_dict({key: value})
        if key == 'type' or key.endswith('.type'):
            drop_foreign_options(cfg, key.removesuffix('type').rstrip('.'), set(cfg_options))
    return cfg


def config_from_text(text: str) -> dict:
    """The config that a checkpoint stores as Python text (``meta['cfg']``), read without
    running it: only assignments of literals, lists, tuples, dicts and ``dict(...)`` are read.

    Raises:
        PatchgenError: the text holds anything else (code, names, calls).
    """
    try:
        config = {}
        for statement in ast.parse(text).body:
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)):
                raise ValueError(f'line {statement.lineno}: not `name = value`')
            config[statement.targets[0].id] = plain_value(statement.value)
    except (SyntaxError, ValueError) as error:
        raise PatchgenError(f'the stored config is not plain data ({error}): it is not '
                            f'read, since running it could run any code') from None
    return config


def plain_value(node: ast.expr) -> Any:
    """The value of a literal expression, where ``dict(key=value, ...)`` counts as a literal."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' \
            and not node.args and all(keyword.arg for keyword in node.keywords):
        return {keyword.arg: plain_value(keyword.value) for keyword in node.keywords}
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {plain_value(key): plain_value(value) for key, value in zip(node.keys, node.values)}
    if isinstance(node, ast.List | ast.Tuple):
        values = [plain_value(element) for element in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    try:
        return ast.literal_eval(node)  # numbers, strings, None, sets, negative numbers
    except ValueError:
        raise ValueError(f'line {node.lineno}: {ast.unparse(node)[:60]}') from None


def drop_foreign_options(cfg: Config, where: str, overridden: set[str]) -> None:
    """After ``--cfg-options WHERE.type=NEW``, drop the component's options that NEW does not
    take (e.g. ``real_p`` when a patch sampler becomes ``FullImage``), saying which."""
    node: Any = cfg
    for part in filter(None, where.split('.')):
        node = node[int(part)] if isinstance(node, list | tuple) else node[part]
    cls = component_class(node['type'])
    options = accepted_options(cls) if cls is not None else None
    if options is None:
        return
    prefix = f'{where}.' if where else ''
    foreign = [name for name in node if name != 'type' and name not in options
               and f'{prefix}{name}' not in overridden]
    for name in foreign:
        del node[name]
    if foreign:
        print_log(f'--cfg-options {prefix}type={node["type"]}: dropped {", ".join(foreign)}, '
                  f'which {cls.__name__} does not take', logger='current', level=logging.WARNING)


# Counts a config sets, with the least value each may take.
COUNTS = {'train_dataloader.batch_size': 1, 'train_dataloader.num_workers': 0,
          'train_cfg.max_iters': 1}


def check_counts(cfg: Config) -> None:
    """Refuse a count below its least value (or not a whole number) before anything is built."""
    for key, least in COUNTS.items():
        node: Any = cfg
        for part in key.split('.'):
            node = node.get(part) if isinstance(node, dict | Config) else None
        if node is not None and (type(node) is not int or node < least):
            raise PatchgenError(f'{key} must be a whole number >= {least}, got {node!r}')


def move_patch_sampler_to_loop(cfg: Config) -> None:
    """Accept the old ``model.patch_sampler`` key: move it to ``train_cfg`` (where it replaces
    what the bases set there, since a user wrote it), with a warning."""
    model, train_cfg = cfg.get('model') or {}, cfg.get('train_cfg')
    if 'patch_sampler' not in model:
        return
    patch_sampler = model.pop('patch_sampler')
    if train_cfg is not None:
        train_cfg['patch_sampler'] = patch_sampler
    print_log('model.patch_sampler is deprecated: set train_cfg.patch_sampler (the training '
              'loop owns the patch plan)', logger='current', level=logging.WARNING)


def training_config(cfg: Config) -> Config:
    """``cfg`` as training runs it (changed in place and returned): its counts checked and the
    old ``model.patch_sampler`` key moved to ``train_cfg``, where the training loop reads it.

    Raises:
        PatchgenError: a count is below its least value (see :func:`check_counts`).
    """
    check_counts(cfg)
    move_patch_sampler_to_loop(cfg)
    return cfg
