"""Tiled sampling: overlapping tiles with their own coordinates, blended at every denoiser call."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from PIL import Image

from conftest import assert_one_line_error, patchgen
from patchgen.checkpoint_file import save_checkpoint_file
from patchgen.errors import PatchgenError
from patchgen.registry import MODELS
from patchgen.samplers import EulerSampler, TiledDenoiser, Tiling
from patchgen.testing import randomise_zero_parameters


@pytest.fixture
def model(tiny_cfg: Config) -> torch.nn.Module:
    """The tiny 32px MNIST model, untrained but with every path live."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg.model).eval()
    randomise_zero_parameters(model)
    return model


def largest_backbone_input(model: torch.nn.Module, **generate) -> int:
    """The most numbers in one backbone input (batch x channels x pixels) while sampling."""
    sizes = []
    hook = model.backbone.register_forward_hook(lambda _, inputs, out: sizes.append(
        inputs[0].numel()))
    try:
        model.generate([0], sampler=EulerSampler(1), **generate)
    finally:
        hook.remove()
    return max(sizes)


def test_a_canvas_of_one_tile_is_the_plain_sampler(model: torch.nn.Module) -> None:
    for size in (32, 16):  # the whole training image; its top-left 16x16 patch
        plain = model.generate([0, 1], num_steps=3, size=(size, size))
        tiled = model.generate([0, 1], num_steps=3, size=(size, size), tiling=Tiling(size))
        assert torch.equal(tiled, plain)


def test_the_canvas_does_not_depend_on_the_tile_batch(model: torch.nn.Module) -> None:
    """Equal up to the rounding of batched convolutions (as for the plain sampler's batches)."""
    canvases = [model.generate([0, 1], num_steps=2, size=(40, 40),
                               tiling=Tiling(16, overlap=4, batch=batch)) for batch in (1, 5, 64)]
    assert canvases[0].shape == (2, 1, 40, 40)
    scale = canvases[0].abs().max().item()
    for canvas in canvases[1:]:
        torch.testing.assert_close(canvas, canvases[0], rtol=0, atol=1e-5 * scale)
    assert not torch.allclose(canvases[0][0], canvases[0][1])


def test_the_network_sees_one_tile_batch_whatever_the_canvas(model: torch.nn.Module) -> None:
    """What is measured: the largest backbone input, in numbers, on a 4x4-tile canvas (16px
    tiles, overlap 4: 52px) and an 8x8-tile one (100px): 4 tiles x 3 channels x 16 x 16 both."""
    one_batch = 4 * 3 * 16 * 16
    for side in (52, 100):
        tiling = Tiling(16, overlap=4, batch=4)
        assert len(tiling.starts(side)) == (side - 4) // 12
        assert largest_backbone_input(model, size=(side, side), tiling=tiling) == one_batch
    assert largest_backbone_input(model, size=(52, 52)) == 3 * 52 * 52  # untiled: the canvas


def test_blended_tiles_reassemble_the_canvas() -> None:
    """The weights sum to 1 at every pixel and each tile goes back where it was cut from."""
    x = torch.randn(2, 3, 37, 29)
    seen = []

    def identity(tiles: torch.Tensor, sigma: torch.Tensor, coords: torch.Tensor,
                 images: torch.Tensor) -> torch.Tensor:
        seen.append((len(tiles), images.tolist(), sigma.tolist()))
        return tiles

    denoiser = TiledDenoiser(identity, (37, 29), 32, Tiling(10, overlap=3, batch=7))
    torch.testing.assert_close(denoiser(x, torch.tensor([1.0, 2.0])), x)
    assert max(n for n, _, _ in seen) == 7
    assert all(s == 1.0 + i for _, images, sigmas in seen for i, s in zip(images, sigmas))


def test_each_tile_gets_the_coordinates_of_the_same_place_in_the_training_image() -> None:
    corners = {}

    def record(tiles: torch.Tensor, sigma: torch.Tensor, coords: torch.Tensor,
               images: torch.Tensor) -> torch.Tensor:
        for c in coords:
            corners[(round(c[1, 0, 0].item(), 4), round(c[0, 0, 0].item(), 4))] = c
        return tiles

    TiledDenoiser(record, (64, 64), 32, Tiling(16, overlap=0))(
        torch.zeros(1, 1, 64, 64), torch.ones(1))
    step = 2 / 31  # one training pixel
    starts = [round(-1 + k * step, 4) for k in (0, 5, 11, 16)]  # 0, 16, 32, 48 scaled to 0..16
    assert sorted(corners) == [(y, x) for y in starts for x in starts]
    last = corners[(starts[-1], starts[-1])]
    assert last[0, -1, -1].item() == pytest.approx(1.0)  # the bottom-right pixel of the image


@pytest.mark.parametrize('make', [
    lambda: Tiling(1), lambda: Tiling(8, overlap=8), lambda: Tiling(8, batch=0),
    lambda: TiledDenoiser(lambda *a: a[0], (64, 64), 32, Tiling(48)),
    lambda: TiledDenoiser(lambda *a: a[0], (12, 64), 32, Tiling(16))])
def test_bad_tilings_are_refused(make) -> None:
    with pytest.raises(PatchgenError):
        make()


def test_sample_command_tiles_large_canvases_and_names_the_solvers(
        tiny_cfg: Config, model: torch.nn.Module, tmp_path: Path) -> None:
    checkpoint = tmp_path / 'tiny.pth'
    save_checkpoint_file(dict(meta=dict(cfg=tiny_cfg.pretty_text), state_dict=model.state_dict()),
                         checkpoint)
    common = [str(checkpoint), '-n', '1', '--steps', '2']
    result = patchgen('sample', *common, '--out', str(tmp_path / 'big'), '--resolution', '64',
                      '--tile', '32', '--tile-batch', '2', '--sampler', 'DPMSolverPP2MSampler')
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(tmp_path / 'big' / '000000.png').size == (64, 64)
    bad = patchgen('sample', *common, '--out', str(tmp_path / 'bad'), '--sampler', 'RK45')
    assert_one_line_error(bad, "unknown sampler 'RK45'", 'DPMSolverPP2MSampler, EulerSampler, '
                                                         'HeunSampler')
    too_big = patchgen('sample', *common, '--out', str(tmp_path / 'x'), '--tile', '48',
                       '--resolution', '64')
    assert_one_line_error(too_big, 'tile 48 is larger than the training resolution 32')


def test_a_tiled_canvas_takes_no_offset(model: torch.nn.Module) -> None:
    with pytest.raises(PatchgenError, match='leave offset at'):
        model.generate([0], size=(64, 64), offset=(0, 8), tiling=Tiling(16))
