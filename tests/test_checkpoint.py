"""Checkpoints are plain data and load without unpickling code."""
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from conftest import Payload
from patchgen.checkpoint_file import load_checkpoint_file, restore_history_buffers, to_plain
from patchgen.errors import PatchgenError


def test_to_plain_converts_numpy_and_history_buffers() -> None:
    buffer = HistoryBuffer([1.0, 2.0, 4.0], [1, 1, 2], max_length=10)
    plain = to_plain({'a': np.float64(1.5), 'b': np.arange(3), 'c': [np.int64(2)],
                      'hub': {'loss': buffer}, 'd': OrderedDict(x=torch.ones(1))})
    assert type(plain['a']) is float and type(plain['c'][0]) is int
    assert torch.equal(plain['b'], torch.arange(3))
    assert isinstance(plain['d'], OrderedDict)
    rebuilt = restore_history_buffers(plain['hub'])['loss']
    assert rebuilt.mean() == buffer.mean() and rebuilt.max_length == 10
    with pytest.raises(TypeError, match=r'checkpoint\.obj holds a object'):
        to_plain({'obj': object()})


def test_plain_checkpoint_round_trips_with_weights_only(tmp_path: Path) -> None:
    path = tmp_path / 'plain.pth'
    checkpoint = to_plain({'state_dict': {'w': torch.randn(3)},
                           'message_hub': {'log_scalars': {'loss': HistoryBuffer([3.0], [1])}}})
    torch.save(checkpoint, path)
    loaded = load_checkpoint_file(path)
    assert torch.equal(loaded['state_dict']['w'], checkpoint['state_dict']['w'])


def test_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': Payload(marker)}, path)
    with pytest.raises(PatchgenError, match='refused: loading it would call .*system') as error:
        load_checkpoint_file(path)
    assert '\n' not in str(error.value) and '--trust-checkpoint' in str(error.value)
    assert not marker.exists()


def test_numpy_values_load_through_the_allowlist_history_buffers_need_trust(
        tmp_path: Path) -> None:
    path = tmp_path / 'numpy.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': {'seed': np.int64(3)},
                'message_hub': {'runtime_info': {'lr': np.array([0.1, 0.2])}}}, path)
    loaded = load_checkpoint_file(path)
    assert loaded['meta']['seed'] == 3
    assert np.array_equal(loaded['message_hub']['runtime_info']['lr'], [0.1, 0.2])
    legacy = tmp_path / 'mmengine.pth'  # as mmengine's own Runner saves its message hub
    torch.save({'state_dict': {}, 'message_hub': {'log_scalars': {
        'loss': HistoryBuffer([1.0, 2.0], [1, 1])}}}, legacy)
    with pytest.raises(PatchgenError, match='builtins.getattr'):
        load_checkpoint_file(legacy)
    trusted = load_checkpoint_file(legacy, trusted=True)
    assert trusted['message_hub']['log_scalars']['loss'].mean() == 1.5
