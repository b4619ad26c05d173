"""Latent Patch Diffusion: autoencoders, latent datasets, training and sampling in latent space.

The diffusers autoencoders here are built small and random from a config: these tests check
the wiring (loading offline, shapes, scale, batching), not reconstruction quality.
"""
import json
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.main import get_command

from conftest import ROOT, assert_one_line_error, patchgen
from patchgen.autoencoders import KLNetwork, LazyAutoencoder, build_autoencoder
from patchgen.autoencoders.training import train_autoencoder
from patchgen.checkpoint_file import save_checkpoint_file
from patchgen.cli.main import app
from patchgen.config import CONFIG_DIR, load_config
from patchgen.datasets import ArrayDataset, LatentDataset
from patchgen.datasets.latents import LATENTS, META
from patchgen.engine import build_runner
from patchgen.engine.loops import check_training_data
from patchgen.errors import PatchgenError
from patchgen.inference import load_model, sample_to_folder
from patchgen.latent_writer import write_latents
from patchgen.patches import LatentMultiScale
from patchgen.registry import MODELS
from patchgen.samplers import Tiling

needs_fmnist = pytest.mark.skipif(
    not Path('/usr/share/datasets/fashion-mnist').is_dir(),
    reason='needs Fashion-MNIST: apt-get install dataset-fashion-mnist')


def kl_checkpoint(path: Path, **network) -> str:
    """A finished KL autoencoder checkpoint of a random network (seeded), as training writes."""
    torch.manual_seed(0)
    net = KLNetwork(**network)
    save_checkpoint_file({'state_dict': net.state_dict(), 'network': net.arguments, 'step': 1,
                          'max_iters': 1, 'latent_scale': 2.0, 'latent_shift': 0.1}, path)
    return str(path)


def images(n: int, channels: int = 1, size: int = 16, seed: int = 0) -> np.ndarray:
    """(n, size, size, channels) random uint8 images."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), np.uint8)


def latent_model(autoencoder: dict, latent_channels: int = 4, resolution: int = 4,
                 **options) -> torch.nn.Module:
    """A tiny PatchDiffusion over ``resolution``-side latents of ``autoencoder`` whose weights
    (the zero-initialised output layers too) are random, so that labels matter; seeded."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='PatchDiffusion', image_channels=latent_channels, resolution=resolution,
        backbone=dict(type='UNet', base_channels=16, channel_mults=(1, 2), num_blocks=1,
                      attn_resolutions=()),
        schedule=dict(type='EDM'), sampler=dict(type='HeunSampler', num_steps=2),
        autoencoder=autoencoder, **options))
    for param in model.parameters():
        torch.nn.init.normal_(param, std=0.05)
    return model


# Encode/decode round trips, one per autoencoder kind.

def test_kl_autoencoder_round_trip_scales_and_batches(tmp_path: Path) -> None:
    ae = build_autoencoder(dict(type='KLAutoencoder', batch_size=2, checkpoint=kl_checkpoint(
        tmp_path / 'ae.pth', image_channels=1, latent_channels=4, base_channels=8,
        channel_mults=(1, 2, 2))))
    x = torch.rand(5, 1, 16, 24) * 2 - 1
    z = ae.encode(x)  # 3 calls of at most 2 images
    assert z.shape == (5, 4, 4, 6) and ae.downsample == 4
    assert torch.allclose(z, (ae.encode_raw(x) - 0.1) * 2.0, atol=1e-6)  # the stored scale, shift
    ae.batch_size = 5
    assert torch.allclose(ae.encode(x), z, atol=1e-6)
    y = ae.decode(z)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert torch.allclose(y, ae.decode_raw(z / 2.0 + 0.1).clamp(-1, 1), atol=1e-6)
    with pytest.raises(PatchgenError, match='do not divide into'):
        ae.encode(torch.zeros(1, 1, 18, 16))


def test_an_untrained_or_unfinished_kl_autoencoder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PatchgenError, match='no trained weights.*autoencoder train'):
        build_autoencoder(dict(type='KLAutoencoder', network=dict(base_channels=8)))
    path = tmp_path / 'half.pth'
    save_checkpoint_file({'state_dict': {}, 'network': {}, 'step': 5, 'max_iters': 10,
                          'latent_scale': None}, path)
    with pytest.raises(PatchgenError, match=r'unfinished \(step 5 of 10\).*--resume'):
        build_autoencoder(dict(type='KLAutoencoder', checkpoint=str(path)))


@pytest.fixture(scope='module')
def diffusers_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small random diffusers AutoencoderKL and AutoencoderTiny saved as local folders, and the
    KL's weights as one .safetensors file."""
    diffusers = pytest.importorskip('diffusers')
    from safetensors.torch import save_file
    root = tmp_path_factory.mktemp('diffusers')
    torch.manual_seed(0)
    kl = diffusers.AutoencoderKL(
        block_out_channels=(8, 16), down_block_types=('DownEncoderBlock2D',) * 2,
        up_block_types=('UpDecoderBlock2D',) * 2, layers_per_block=1, norm_num_groups=4,
        latent_channels=4)
    tiny = diffusers.AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8), decoder_block_out_channels=(8, 8, 8),
        num_encoder_blocks=(1, 1, 1), num_decoder_blocks=(1, 1, 1), latent_channels=4)
    kl.save_pretrained(root / 'kl')
    tiny.save_pretrained(root / 'tiny')
    save_file(kl.state_dict(), root / 'kl.safetensors')
    return {'kl': root / 'kl', 'tiny': root / 'tiny', 'kl_file': root / 'kl.safetensors'}


@pytest.mark.parametrize('kind, scale, factor', [('DiffusersAutoencoderKL', 0.18215, 2),
                                                 ('DiffusersAutoencoderTiny', 1.0, 4)])
def test_diffusers_autoencoders_load_offline_and_round_trip(
        diffusers_folders: dict, kind: str, scale: float, factor: int) -> None:
    """Wiring, not quality: random small networks, loaded from a local folder."""
    folder = diffusers_folders['kl' if kind.endswith('KL') else 'tiny']
    ae = build_autoencoder(dict(type=kind, path=str(folder), batch_size=2))
    assert (ae.scale, ae.shift, ae.downsample) == (scale, 0.0, factor)  # from its config.json
    x = torch.rand(3, 3, 16, 24) * 2 - 1
    z = ae.encode(x)
    assert z.shape == (3, 4, 16 // factor, 24 // factor)
    assert torch.allclose(z, ae.encode_raw(x) * scale, atol=1e-5)
    assert ae.decode(z).shape == x.shape
    again = build_autoencoder(dict(type=kind, path=str(folder), scale=0.5))
    assert again.fingerprint() != ae.fingerprint()  # another scale makes other latents


def test_a_single_weights_file_loads_with_a_config_folder(diffusers_folders: dict) -> None:
    folder = build_autoencoder(dict(type='DiffusersAutoencoderKL',
                                    path=str(diffusers_folders['kl'])))
    single = build_autoencoder(dict(type='DiffusersAutoencoderKL',
                                    path=str(diffusers_folders['kl_file']),
                                    config=str(diffusers_folders['kl'])))
    assert single.fingerprint() == folder.fingerprint()
    with pytest.raises(PatchgenError, match='needs `config`'):
        build_autoencoder(dict(type='DiffusersAutoencoderKL',
                               path=str(diffusers_folders['kl_file'])))


def test_missing_weights_say_where_to_put_them(tmp_path: Path) -> None:
    pytest.importorskip('diffusers')
    where = tmp_path / 'models' / 'sd-vae-ft-ema'
    with pytest.raises(PatchgenError) as error:
        build_autoencoder(dict(type='DiffusersAutoencoderKL', path=str(where),
                               hub_id='stabilityai/sd-vae-ft-ema'))
    message = str(error.value)
    assert '\n' not in message and 'never downloads' in message
    assert f'hf download stabilityai/sd-vae-ft-ema --local-dir {where}' in message


def test_patchgen_works_without_diffusers_and_a_latent_config_says_what_to_install(
        tmp_path: Path) -> None:
    code = f"""
import sys
sys.modules['diffusers'] = None  # as if it were not installed
from mmengine.registry import init_default_scope
import patchgen
from patchgen.registry import AUTOENCODERS, MODELS
init_default_scope('patchgen')
AUTOENCODERS.import_from_location()
assert 'DiffusersAutoencoderKL' in AUTOENCODERS.module_dict
MODELS.build(dict(type='PatchDiffusion', image_channels=1, resolution=8,
                  backbone=dict(type='UNet', base_channels=8, channel_mults=(1,),
                                num_blocks=1, attn_resolutions=()),
                  schedule=dict(type='EDM'), sampler=dict(type='HeunSampler', num_steps=2)))
print('pixel model built')
from patchgen.cli.main import main
sys.argv = ['patchgen', 'data', 'encode', 'mnist5k', '--out', {str(tmp_path / 'z')!r},
            '--autoencoder', {str(CONFIG_DIR / '_base_/autoencoders/sd_vae_ft_ema.py')!r}]
main()
"""
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.stdout.strip() == 'pixel model built', result.stderr[-2000:]
    assert_one_line_error(result, "pip install 'patchgen[latent]'")


# Latent datasets: writing once, resuming, refusing other autoencoders.

def test_the_latent_writer_resumes_after_a_kill_and_refuses_another_autoencoder(
        tmp_path: Path) -> None:
    dataset = ArrayDataset(images(10), np.arange(10) % 3)
    ae = dict(type='KLAutoencoder', checkpoint=kl_checkpoint(
        tmp_path / 'ae.pth', base_channels=8, channel_mults=(1, 2)))
    whole = write_latents(dataset, ae, tmp_path / 'whole', 'test', xflip=True, batch_size=4)
    assert whole['done'] == 10 and whole['latent_shape'] == [4, 8, 8]

    def killed_after_first_batch(done: int, total: int) -> None:
        raise KeyboardInterrupt  # as if killed: nothing below this batch runs
    out = tmp_path / 'resumed'
    with pytest.raises(KeyboardInterrupt):
        write_latents(dataset, ae, out, 'test', xflip=True, batch_size=4,
                      progress=killed_after_first_batch)
    assert json.loads((out / META).read_text())['done'] == 4
    with pytest.raises(PatchgenError, match=r'unfinished \(4 of 10'):
        LatentDataset(str(out))
    rows = np.load(out / LATENTS, mmap_mode='r+')
    rows[4:] = 123  # a half-written batch after the last recorded one
    rows.flush()
    batches = []
    write_latents(dataset, ae, out, 'test', xflip=True, batch_size=4,
                  progress=lambda done, total: batches.append(done))
    assert batches == [8, 10]  # the first batch was not encoded again
    for name in ('latents.npy', 'flipped.npy', 'labels.npy'):
        assert np.array_equal(np.load(out / name), np.load(tmp_path / 'whole' / name)), name

    other = dict(ae, scale=1.0)  # the same weights at another scale: other latents
    with pytest.raises(PatchgenError, match='another autoencoder.*new --out'):
        write_latents(dataset, other, out, 'test', xflip=True, batch_size=4)
    with pytest.raises(PatchgenError, match='another job.*xflip'):
        write_latents(dataset, ae, out, 'test', batch_size=4)


def test_latent_items_flip_as_encoded_mirror_images_and_training_checks_their_autoencoder(
        tmp_path: Path) -> None:
    dataset = ArrayDataset(images(6))
    ae = dict(type='KLAutoencoder', checkpoint=kl_checkpoint(
        tmp_path / 'ae.pth', base_channels=8, channel_mults=(1, 2)))
    write_latents(dataset, ae, tmp_path / 'z', 'test', xflip=True)
    latents = LatentDataset(str(tmp_path / 'z'), xflip=True)
    encoder = build_autoencoder(ae)
    image = torch.from_numpy(images(6)[2]).permute(2, 0, 1)[None].float() / 127.5 - 1
    plain, mirrored = encoder.encode(image)[0], encoder.encode(image.flip(-1))[0]
    seen = [latents[2]['inputs'] for _ in range(12)]
    for z in seen:
        assert z.dtype == torch.float32 and z.shape == (4, 8, 8)
        assert min((z - plain).abs().max(), (z - mirrored).abs().max()) < 1e-2  # float16
    assert any((z - mirrored).abs().max() < 1e-2 for z in seen)
    assert any((z - plain).abs().max() < 1e-2 for z in seen)
    assert 'labels' not in latents[0] and latents.metainfo['num_classes'] == 0

    check_training_data(latents, latent_model(ae, resolution=8))  # its own autoencoder: fine
    with pytest.raises(PatchgenError, match='made by another autoencoder'):
        check_training_data(latents, latent_model(dict(ae, shift=0.5), resolution=8))
    with pytest.raises(PatchgenError, match='no autoencoder to decode'):
        check_training_data(latents, latent_model(None, resolution=8))
    with pytest.raises(PatchgenError, match='training data are images.*data encode'):
        check_training_data(ArrayDataset(images(2, 4, 8)), latent_model(ae, resolution=8))


def test_latent_multiscale_draws_half_and_full_latents_with_real_p() -> None:
    sampler = LatentMultiScale(32, real_p=0.25)
    plans = [sampler.plan(step) for step in range(2000)]
    assert {(p.size, p.multiplier) for p in plans} == {(16, 2), (32, 1)}
    assert abs(np.mean([p.size == 32 for p in plans]) - 0.25) < 0.04
    with pytest.raises(PatchgenError, match='odd'):
        LatentMultiScale(9)
    with pytest.raises(PatchgenError, match='real_p'):
        LatentMultiScale(8, real_p=1.5)


# Sampling in latent space: any latent shape and channel count, guidance, canvases.

@pytest.mark.parametrize('latent_channels, channel_mults, canvas', [
    (4, (1, 2, 2), (6, 10)),  # f=4, non-square
    (6, (1, 2), (6, 14)),  # f=2, 6 channels
])
def test_latent_models_sample_decoded_images_of_any_latent_shape(
        tmp_path: Path, latent_channels: int, channel_mults: tuple, canvas: tuple) -> None:
    ae = dict(type='KLAutoencoder', batch_size=2, checkpoint=kl_checkpoint(
        tmp_path / 'ae.pth', image_channels=3, latent_channels=latent_channels, base_channels=8,
        channel_mults=channel_mults))
    model = latent_model(ae, latent_channels, resolution=8, num_classes=3)
    f = 2 ** (len(channel_mults) - 1)
    labels = torch.tensor([0, 1, 2])
    plain = model.generate([0, 1, 2], labels, size=canvas)
    assert plain.shape == (3, 3, canvas[0] * f, canvas[1] * f) and plain.abs().max() <= 1
    guided = model.generate([0, 1, 2], labels, size=canvas, guidance=2.0)
    assert guided.shape == plain.shape and not torch.equal(guided, plain)
    tiled = model.generate([0], labels[:1], size=(12, 20), tiling=Tiling(8, 4, 4))
    assert tiled.shape == (1, 3, 12 * f, 20 * f)


def test_sample_help_counts_a_latent_models_canvas_in_latent_cells() -> None:
    helps = {param.name: param.help for param in get_command(app).commands['sample'].params}
    for name in ('resolution', 'x_start', 'y_start', 'tile', 'tile_overlap'):
        assert 'training pixels (latent cells for a latent model)' in helps[name].lower(), name
    assert "images come out the autoencoder's factor larger" in helps['resolution']


def test_a_diffusers_latent_model_samples_through_its_decoder(diffusers_folders: dict) -> None:
    ae = dict(type='DiffusersAutoencoderTiny', path=str(diffusers_folders['tiny']))
    assert latent_model(ae).generate([0, 1], size=(4, 6)).shape == (2, 3, 16, 24)


def test_copies_of_a_latent_model_share_one_frozen_autoencoder(tmp_path: Path) -> None:
    import copy
    model = latent_model(dict(type='KLAutoencoder', checkpoint=kl_checkpoint(
        tmp_path / 'ae.pth', base_channels=8, channel_mults=(1, 2))))
    assert isinstance(model.autoencoder, LazyAutoencoder)
    assert not any('network' in key for key in model.state_dict())  # not in checkpoints
    ema = copy.deepcopy(model)
    assert ema.autoencoder.get() is model.autoencoder.get()
    assert not any(p.requires_grad for p in model.autoencoder.get().parameters())


# End to end on Fashion-MNIST: train the autoencoder, encode, train, sample, evaluate.

def tiny_autoencoder_config(tmp_path: Path) -> Path:
    """configs/autoencoders/fmnist_kl.py shrunk to a few steps on 64 images."""
    path = tmp_path / 'tiny_kl.py'
    path.write_text(f"""_base_ = [{str(CONFIG_DIR / 'autoencoders/fmnist_kl.py')!r}]
autoencoder = dict(network=dict(base_channels=8))
train_dataloader = dict(batch_size=8, dataset=dict(indices=64))
test_dataset = dict(indices=24)
max_iters = 6
save_interval = 2
""")
    return path


@needs_fmnist
def test_autoencoder_training_resumes_exactly(tmp_path: Path) -> None:
    config = tiny_autoencoder_config(tmp_path)
    whole = train_autoencoder(config, tmp_path / 'whole.pth')

    def killed_at_step_3(step: int, total: int, l1: float) -> None:
        if step == 3:
            raise KeyboardInterrupt  # after the checkpoint of step 2
    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(config, tmp_path / 'ae.pth', report=killed_at_step_3)
    with pytest.raises(PatchgenError, match='exists: pass --resume'):
        train_autoencoder(config, tmp_path / 'ae.pth')
    steps = []
    resumed = train_autoencoder(config, tmp_path / 'ae.pth', resume=True,
                                report=lambda step, total, l1: steps.append(step))
    assert steps == [3, 4, 5, 6] and resumed == {**whole, 'grid': resumed['grid']}
    a = build_autoencoder(dict(type='KLAutoencoder', checkpoint=str(tmp_path / 'ae.pth')))
    b = build_autoencoder(dict(type='KLAutoencoder', checkpoint=str(tmp_path / 'whole.pth')))
    assert a.fingerprint() == b.fingerprint()


@needs_fmnist
def test_latent_patch_diffusion_end_to_end_on_fashion_mnist(tmp_path: Path) -> None:
    result = patchgen('autoencoder', 'train', str(tiny_autoencoder_config(tmp_path)), '--out',
                      str(tmp_path / 'ae.pth'))
    assert result.returncode == 0, result.stderr[-2000:]
    assert '6/6' in result.stdout + result.stderr  # plain progress lines: no terminal here
    assert 'PSNR' in result.stdout.splitlines()[-1]
    assert (tmp_path / 'ae_reconstructions.png').is_file()

    latents = tmp_path / 'latents'
    result = patchgen('data', 'encode', str(tiny_autoencoder_config(tmp_path)), '--autoencoder',
                      str(tmp_path / 'ae.pth'), '--out', str(latents))
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'the 4x8x8 latents of 64 images' in result.stdout

    cfg = load_config(CONFIG_DIR / 'fmnist32_latent.py', {
        'model.autoencoder.checkpoint': str(tmp_path / 'ae.pth'),
        'train_dataloader.dataset.root': str(latents),
        'train_dataloader.batch_size': 8,
        'model.backbone.base_channels': 16,
        'model.backbone.num_blocks': 1,
        'model.sampler.num_steps': 2,
        'train_cfg.max_iters': 4,
        'default_hooks.checkpoint.interval': 4,
        'default_hooks.sample_grid.num_images': 4,
        'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None,
    })
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'test_{uuid.uuid4().hex}'
    runner = build_runner(cfg)
    runner.train()
    grid = runner.message_hub.get_info('sample_grid')  # decoded by the hook: 2x2 images
    assert grid and Path(grid).is_file()

    model = load_model(tmp_path / 'work' / 'iter_4.pth')
    paths = sample_to_folder(model, [0, 1, 2], tmp_path / 'samples', batch_size=2)
    from PIL import Image
    assert [Image.open(p).size for p in paths] == [(32, 32)] * 3
    assert Image.open(paths[0]).mode == 'L'
    predicted = model(seeds=torch.tensor([0, 1]), mode='predict')  # what the metrics see
    assert [tuple(p.shape) for p in predicted] == [(1, 32, 32)] * 2
    assert predicted[0].dtype == torch.uint8
