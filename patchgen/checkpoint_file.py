"""Checkpoint files that hold plain data only, load without unpickling code, and survive crashes.

mmengine 0.10.7 stores its message hub as ``HistoryBuffer`` objects holding
numpy arrays; torch >= 2.6 refuses those with ``weights_only=True`` and
allow-listing them would also allow ``getattr``, i.e. code execution. patchgen
converts every such value to tensors, dicts, lists, strings and numbers on
save (:func:`to_plain`), rebuilds the history buffers on load
(:func:`restore_history_buffers`), and loads with ``weights_only=True``
(:func:`load_checkpoint_file`). Files are written by :func:`save_checkpoint_file`
through :func:`patchgen.files.atomic_write`, so a crash leaves the previous file intact.
"""
import logging
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log

from patchgen.errors import PatchgenError, first_line
from patchgen.files import atomic_write

HISTORY_BUFFER_TAG = '__history_buffer__'


def to_plain(value: Any, where: str = 'checkpoint') -> Any:
    """Recursively convert ``value`` to tensors, containers, strings and numbers.

    Raises:
        TypeError: ``value`` holds an object with no plain form (names its key path).
    """
    if isinstance(value, np.generic):  # before float: numpy.float64 subclasses float
        return value.item()
    if isinstance(value, torch.Tensor | str | int | float | bool | None):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, HistoryBuffer):
        logs, counts = value.data
        return {HISTORY_BUFFER_TAG: True, 'logs': logs.tolist(), 'counts': counts.tolist(),
                'max_length': value.max_length}
    if isinstance(value, dict):
        container = OrderedDict if isinstance(value, OrderedDict) else dict
        return container((k, to_plain(v, f'{where}.{k}')) for k, v in value.items())
    if isinstance(value, list | tuple):
        return type(value)(to_plain(v, f'{where}[{i}]') for i, v in enumerate(value))
    raise TypeError(f'{where} holds a {type(value).__name__}, which a weights-only '
                    f'checkpoint cannot store')


def restore_history_buffers(log_scalars: dict) -> dict:
    """Turn the plain form of each message-hub history buffer back into a HistoryBuffer."""
    return {key: HistoryBuffer(value['logs'], value['counts'], value['max_length'])
            if isinstance(value, dict) and value.get(HISTORY_BUFFER_TAG) else value
            for key, value in log_scalars.items()}


def save_checkpoint_file(checkpoint: dict, path: str | Path) -> None:
    """Write ``checkpoint`` (plain data, see :func:`to_plain`) to ``path`` atomically."""
    with atomic_write(path) as file:
        torch.save(checkpoint, file)


def safe_globals() -> list:
    """What a weights-only load may build beyond torch's own types: numpy arrays and scalars.

    Rebuilding these runs no code. mmengine's own checkpoints also pickle
    ``HistoryBuffer`` objects, whose bound methods unpickle through
    ``builtins.getattr``; allowing that would let a crafted file reach any
    function, so such files need ``trusted=True``.
    """
    core = np._core if hasattr(np, '_core') else np.core
    dtypes = [type(np.dtype(name)) for name in ('float64', 'float32', 'int64', 'int32', 'bool')]
    return [np.ndarray, np.dtype, core.multiarray.scalar, core.multiarray._reconstruct, *dtypes]


def load_checkpoint_file(path: str | Path, map_location: Any = 'cpu',
                         trusted: bool = False) -> dict:
    """Load a checkpoint without running code from it; bad files give a one-line PatchgenError.

    Args:
        path: The .pth file.
        map_location: Where tensors go, as for ``torch.load``.
        trusted: Unpickle everything (``weights_only=False``), for legacy files
            you made yourself: a crafted file can then run any code.
    """
    path = Path(path)
    if not path.is_file():
        raise PatchgenError(f'checkpoint {path} does not exist: give the path of a .pth file '
                            f'written by `patchgen train`')
    try:
        if trusted:
            print_log(f'loading {path} with full unpickling (trusted): any code in the file '
                      f'runs now', logger='current', level=logging.WARNING)
            checkpoint = torch.load(path, map_location=map_location, weights_only=False)
        else:
            with torch.serialization.safe_globals(safe_globals()):
                checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except ValueError:  # not a file of torch.save at all
            raise PatchgenError(f'{path} is not a checkpoint (not a file of torch.save): give '
                                f'a .pth file written by `patchgen train`') from None
        what = ', '.join(unsafe) if unsafe else str(error).strip().splitlines()[0]
        raise PatchgenError(f'checkpoint {path} refused: loading it would call {what}, which '
                            f'can run code; if you made the file yourself, pass trusted=True '
                            f'(--trust-checkpoint on the command line)') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as error:
        raise PatchgenError(f'checkpoint {path} is truncated or corrupt ({first_line(error)}): '
                            f'use another checkpoint') from None
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise PatchgenError(f'checkpoint {path} has no state_dict: it was not written by '
                            f'patchgen or mmengine')
    return checkpoint
