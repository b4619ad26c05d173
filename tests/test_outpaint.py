"""Outpainting: masked guidance holds the known pixels, the model draws the border."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from conftest import assert_one_line_error, patchgen, tiny_diffusion
from patchgen.checkpoint_file import save_checkpoint_file
from patchgen.errors import PatchgenError
from patchgen.images import dequantize, quantize
from patchgen.outpainting import outpaint, padded_canvas, read_image
from patchgen.registry import MODELS
from patchgen.samplers import (
    DPMSolverPP2MSampler,
    EulerSampler,
    HeunSampler,
    MaskedDenoiser,
    SeededNoise,
    Tiling,
)
from patchgen.testing import randomise_zero_parameters


@pytest.fixture(scope='module')
def model() -> torch.nn.Module:
    """A 16x16 one-channel model with random weights."""
    return tiny_diffusion().eval()


def known_image(size: int = 16, seed: int = 0) -> torch.Tensor:
    """(1, size, size) random image in [-1, 1] on the uint8 grid."""
    generator = torch.Generator().manual_seed(seed)
    return dequantize(torch.randint(0, 256, (1, size, size), generator=generator))


def test_the_denoiser_sees_the_known_pixels_renoised_with_one_draw_and_returns_them() -> None:
    known, mask = padded_canvas(known_image(8), 4)  # (1, 16, 16), (16, 16)
    noise = SeededNoise([3], torch.device('cpu')).randn(1, 16, 16)  # (1, 1, 16, 16)
    inputs = []

    def record(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        inputs.append((x.clone(), sigma.clone()))
        return torch.zeros_like(x)

    masked = MaskedDenoiser(record, known, mask, noise)
    sigmas = torch.tensor([80.0, 5.0, 0.5, 0.0], dtype=torch.float64)
    out = HeunSampler(3).sample(masked, sigmas, SeededNoise([3], torch.device('cpu')),
                                (1, 16, 16))
    assert len(inputs) == 5  # Heun, 3 steps
    for x, sigma in inputs:  # every call: known + sigma * (the same noise) at the known pixels
        torch.testing.assert_close(x[:, :, mask], (known + sigma.view(-1, 1, 1, 1) * noise)
                                   [:, :, mask])
    assert torch.equal(quantize(out)[:, :, mask], quantize(known[None])[:, :, mask])
    assert out[:, :, ~mask].abs().max() < 1e-6  # D = 0 there: the border goes to 0


@pytest.mark.parametrize('sampler', [EulerSampler(4), HeunSampler(3), DPMSolverPP2MSampler(4),
                                     EulerSampler(4, s_churn=10)])
def test_the_known_region_comes_back_and_the_model_draws_the_border(
        model: torch.nn.Module, sampler) -> None:
    image = known_image()
    canvas = outpaint(model, image, 8, seed=1, sampler=sampler)  # 32x32 in 16x16 tiles
    assert canvas.shape == (1, 32, 32)
    assert torch.equal(quantize(canvas[None])[0, :, 8:24, 8:24], quantize(image[None])[0])
    border = torch.cat([canvas[:, :8].flatten(), canvas[:, 24:].flatten()])
    assert border.std() > 0.05  # drawn, not left at the canvas's zeros


def test_the_same_seed_gives_the_same_canvas(model: torch.nn.Module) -> None:
    image = known_image()
    first, again, other = (outpaint(model, image, 4, seed=seed, num_steps=3)
                           for seed in (5, 5, 6))
    assert torch.equal(first, again)
    assert not torch.allclose(first[:, :4], other[:, :4])  # another seed, another border


def test_bad_arguments_are_refused(model: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(PatchgenError, match='is not a file'):
        read_image(tmp_path / 'nothing.png', 1)
    with pytest.raises(PatchgenError, match='pad must be at least 1'):
        outpaint(model, known_image(), 0)
    with pytest.raises(PatchgenError, match='the image has 3 channels, the model 1'):
        outpaint(model, known_image().expand(3, -1, -1), 4)
    with pytest.raises(PatchgenError, match='tile 20 is larger than the training resolution'):
        outpaint(model, known_image(), 4, tiling=Tiling(20))


def test_outpaint_command_writes_the_canvas_and_refuses_bad_input(tiny_cfg: Config,
                                                                  tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = MODELS.build(tiny_cfg.model)  # 32x32 greyscale
    randomise_zero_parameters(net)
    checkpoint = tmp_path / 'tiny.pth'
    save_checkpoint_file(dict(meta=dict(cfg=tiny_cfg.pretty_text), state_dict=net.state_dict()),
                         checkpoint)
    pixels = np.random.default_rng(0).integers(0, 256, (24, 40), dtype=np.uint8)
    Image.fromarray(pixels.repeat(3).reshape(24, 40, 3)).save(tmp_path / 'grey.png')  # as RGB
    common = ['--checkpoint', str(checkpoint), '--steps', '2']
    result = patchgen('outpaint', str(tmp_path / 'grey.png'), '--pad', '4', *common,
                      '--out', str(tmp_path / 'out' / 'wide.png'))
    assert result.returncode == 0, result.stderr[-3000:]
    written = np.array(Image.open(tmp_path / 'out' / 'wide.png'))
    assert written.shape == (32, 48)  # converted to the model's one channel
    assert (written[4:28, 4:44] == pixels).all()

    (tmp_path / 'notes.png').write_text('not an image')
    for image, pad, words in [('notes.png', '4', 'cannot be decoded'),
                              ('grey.png', '-1', 'pad')]:  # typer's bound or ours
        assert_one_line_error(patchgen('outpaint', str(tmp_path / image), '--pad', pad, *common,
                                       '--out', str(tmp_path / 'bad.png')), words)
    assert not (tmp_path / 'bad.png').exists()
