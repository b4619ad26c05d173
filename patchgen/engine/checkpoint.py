"""Checkpoints that hold plain data only, so they load without unpickling code.

mmengine 0.10.7 stores its message hub as ``HistoryBuffer`` objects holding
numpy arrays; torch >= 2.6 refuses those with ``weights_only=True`` and
allow-listing them would also allow ``getattr``, i.e. code execution. patchgen
converts every such value to tensors, dicts, lists, strings and numbers on
save, rebuilds the history buffers on load, and loads with
``weights_only=True``.
"""
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from patchgen.errors import PatchgenError
from patchgen.registry import HOOKS

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


def load_checkpoint_file(path: str | Path, map_location: Any = 'cpu') -> dict:
    """Load a checkpoint with ``weights_only=True``; bad files give a one-line PatchgenError."""
    path = Path(path)
    if not path.is_file():
        raise PatchgenError(f'checkpoint {path} does not exist: give the path of a .pth file '
                            f'written by `patchgen train`')
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0]
        raise PatchgenError(f'checkpoint {path} holds objects that are not plain data '
                            f'({reason}); patchgen does not unpickle them because that can '
                            f'run code') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as error:
        raise PatchgenError(f'checkpoint {path} is truncated or corrupt '
                            f'({str(error).strip().splitlines()[0]}): use another '
                            f'checkpoint') from None
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise PatchgenError(f'checkpoint {path} has no state_dict: it was not written by '
                            f'patchgen or mmengine')
    return checkpoint


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Keeps checkpoints plain: converts on save, rebuilds history buffers on load.

    :class:`~patchgen.engine.runner.PatchgenRunner` registers it itself.
    """

    priority = 'LOWEST'  # convert after every other hook has added its state

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.update(to_plain(checkpoint))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        message_hub = checkpoint.get('message_hub')
        if message_hub is not None:
            message_hub['log_scalars'] = restore_history_buffers(message_hub['log_scalars'])
