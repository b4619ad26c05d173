"""Turn exceptions caused by bad input into one-line messages."""
import difflib
import re
from pathlib import Path

import typer

from patchgen.errors import PatchgenError
from patchgen.files import check_writable

# mmengine prefixes errors raised while building a class with "class `X` in path: ".
_BUILD_PREFIX = re.compile(r'class `(\w+)` in [^:]+: ')
_UNKNOWN_TYPE = re.compile(r'(\S+) is not in the (?:\w+::)?([\w ]+) registry')


def registered_names(registry_name: str) -> list[str]:
    """Every name registered in patchgen's registry called ``registry_name`` (and its parents)."""
    from patchgen.registry import ALL_REGISTRIES  # imported here: mmengine slows CLI start-up
    names: set[str] = set()
    for registry in ALL_REGISTRIES.values():
        if registry.name == registry_name:
            registry.import_from_location()
            while registry is not None:
                names.update(registry.module_dict)
                registry = registry.parent
    return sorted(names)


def unknown_type_message(type_name: str, registry_name: str) -> str:
    """One line naming the unknown type, its registry and the closest registered names."""
    close = difflib.get_close_matches(type_name, registered_names(registry_name), n=3, cutoff=0.5)
    hint = f'did you mean {", ".join(close)}?' if close else 'see `patchgen list`'
    return f'{type_name!r} is not a registered {registry_name}: {hint}'


def writable(path: Path | None) -> Path | None:
    """A typer callback of output paths: refuse one that cannot be written before work starts."""
    return None if path is None else check_writable(path)


def device_name(name: str | None) -> str | None:
    """A typer callback of --device: refuse a name that torch cannot use on this machine."""
    if name is None:
        return None
    import torch  # imported here: slow, and needed only when a device is named
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PatchgenError(f'--device {name!r} is not a device: use cpu, cuda, cuda:1, ...') \
            from None
    found = torch.cuda.device_count()
    if device.type == 'cuda' and (device.index or 0) >= found:
        raise PatchgenError(f'--device {name}: this machine has {found} CUDA device(s); use '
                            f'{"cpu" if not found else f"cuda:0 .. cuda:{found - 1} or cpu"}')
    return name


def user_error_message(error: BaseException) -> str | None:
    """The one-line message for an error caused by bad input, or None for a bug; '' for a
    command given no arguments, whose help typer has shown."""
    if isinstance(error, typer.TyperException):  # a usage error: missing argument, bad value, ...
        message = ' '.join(error.format_message().split()).rstrip('.')
        context = getattr(error, 'ctx', None)
        return f'{message}: see `{context.command_path} --help`' if message and context else message
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    classes = _BUILD_PREFIX.findall(text)
    text = _BUILD_PREFIX.sub('', text)
    if isinstance(error, KeyError) and (match := _UNKNOWN_TYPE.search(text)):
        return unknown_type_message(match.group(1), match.group(2))
    if isinstance(error, PatchgenError):
        where = f'{classes[-1]}: ' if classes else ''
        return where + ' '.join(text.split())
    return None
