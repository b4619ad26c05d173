"""Turn exceptions caused by bad input into one-line messages."""
import difflib
import re

from patchgen.errors import PatchgenError

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


def check_at_least_one(**options: int | None) -> None:
    """Refuse option values below 1 (None: not given), naming each option as it is typed."""
    for name, value in options.items():
        if value is not None and value < 1:
            raise PatchgenError(f'--{name.replace("_", "-")} must be at least 1, got {value}')


def user_error_message(error: BaseException) -> str | None:
    """The one-line message for an error caused by bad input, or None for a bug."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    classes = _BUILD_PREFIX.findall(text)
    text = _BUILD_PREFIX.sub('', text)
    if isinstance(error, KeyError) and (match := _UNKNOWN_TYPE.search(text)):
        return unknown_type_message(match.group(1), match.group(2))
    if isinstance(error, PatchgenError):
        where = f'{classes[-1]}: ' if classes else ''
        return where + ' '.join(text.split())
    return None
