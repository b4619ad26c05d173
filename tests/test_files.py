"""One atomic-write policy for every writer: a failed write leaves the previous file whole."""
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from patchgen.checkpoint_file import load_checkpoint_file, save_checkpoint_file
from patchgen.evaluation.classifier import FeatureClassifier, load_classifier, save_classifier
from patchgen.evaluation.stats import ReferenceStats
from patchgen.files import atomic_write, write_text_atomic

META = {'name': 'toy', 'metric_suffix': '_toy', 'num_classes': 2, 'channels': 1,
        'resolution': 8, 'test_accuracy': 0.0, 'dataset': 'none'}
MODEL = dict(in_channels=1, num_classes=2, resolution=8, widths=(4,), depths=(1,), feature_dim=4)


def fail_midway(*args, **kwargs) -> None:
    """A serializer that writes part of its output, then runs out of disk."""
    next(arg for arg in args if hasattr(arg, 'write')).write(b'partial')
    raise OSError('No space left on device')


def write_checkpoint(path: Path, value: float) -> None:
    save_checkpoint_file({'state_dict': {'w': torch.full((2,), value)}}, path)


def read_checkpoint(path: Path) -> float:
    return float(load_checkpoint_file(path)['state_dict']['w'][0])


def write_classifier(path: Path, value: float) -> None:
    model = FeatureClassifier(**MODEL)
    torch.nn.init.constant_(model.head.bias, value)
    save_classifier(model, {**META, 'model': MODEL}, path)


def read_classifier(path: Path) -> float:
    return load_classifier(path)[0].head.bias[0].item()


def write_stats(path: Path, value: float) -> None:
    ReferenceStats(mu=np.full(2, value), sigma=np.eye(2)).save(path)


def read_stats(path: Path) -> float:
    return float(ReferenceStats.load(path).mu[0])


@pytest.mark.parametrize('write, read, serializer', [
    (write_checkpoint, read_checkpoint, (torch, 'save')),
    (write_classifier, read_classifier, (torch, 'save')),
    (write_stats, read_stats, (np, 'savez')),
], ids=['checkpoint', 'classifier', 'statistics'])
def test_a_failed_write_keeps_the_previous_file(write: Callable[[Path, float], None],
                                                read: Callable[[Path], float],
                                                serializer: tuple, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / 'new_folder' / 'file'
    write(path, 1.0)  # creates the folder
    monkeypatch.setattr(*serializer, fail_midway)
    with pytest.raises(OSError, match='No space'):
        write(path, 2.0)
    monkeypatch.undo()
    assert read(path) == 1.0
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    write(path, 3.0)
    assert read(path) == 3.0


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / 'pointer'
    write_text_atomic(path, 'old')
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as file:
        file.write(b'new, half written')
        raise KeyboardInterrupt
    assert path.read_text() == 'old' and list(tmp_path.iterdir()) == [path]
    write_text_atomic(path, 'new')
    assert path.read_text() == 'new'
