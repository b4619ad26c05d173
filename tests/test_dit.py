"""Tests for the DiT backbone: shapes, adaLN-Zero, absolute position embedding, training."""
import math

import pytest
import torch
from torch import nn

from patchgen.backbones import DiT
from patchgen.backbones.dit import DIT_ARCHS, parse_arch
from patchgen.coords import coordinate_channels
from patchgen.engine.loops import planned_batch
from patchgen.engine.optim_wrapper import SafeOptimWrapper
from patchgen.errors import PatchgenError
from patchgen.registry import BACKBONES, MODELS
from patchgen.testing import BackboneContract

R = 16  # training canvas of the tiny models


def tiny_dit(**overrides) -> DiT:
    """A 2-block, 32-wide DiT on a 16x16 canvas with token patch 2."""
    kwargs = dict(in_channels=3, out_channels=1, resolution=R, depth=2, hidden_size=32,
                  num_heads=2, token_patch=2)
    kwargs.update(overrides)
    return DiT(**kwargs)


def perturb(model: nn.Module, std: float = 0.02) -> None:
    """Give every parameter, the zero-initialised ones included, seeded random values."""
    torch.manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            nn.init.normal_(param, std=std)


def net_input(top: list[int], left: list[int], height: int, width: int,
              image_channels: int = 1) -> torch.Tensor:
    """Random images with the coordinate channels of patches cut at (top, left)."""
    coords = coordinate_channels(torch.tensor(top), torch.tensor(left), height, width, R)
    images = torch.randn(len(top), image_channels, height, width)
    return torch.cat([images, coords], dim=1)  # (N, C + 2, height, width)


def token_grid(embedding: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, T, D) embeddings -> (N, h, w, D) on the token grid of a height x width input."""
    return embedding.reshape(len(embedding), height // 2, width // 2, -1)


def test_registered() -> None:
    model = BACKBONES.build(dict(type='DiT', in_channels=3, out_channels=1, resolution=R,
                                 arch='S/2', depth=1, hidden_size=32, num_heads=2))
    assert isinstance(model, DiT)


@pytest.mark.parametrize('image_channels', [1, 3])
@pytest.mark.parametrize('corner,size', [((4, 6), (8, 8)), ((0, 0), (16, 16)),
                                         ((0, 0), (16, 32)), ((2, 0), (8, 16))])
def test_output_shape(image_channels: int, corner: tuple[int, int],
                      size: tuple[int, int]) -> None:
    model = tiny_dit(in_channels=image_channels + 2, out_channels=image_channels)
    perturb(model)
    x = net_input([corner[0]] * 2, [corner[1]] * 2, *size, image_channels=image_channels)
    out = model(x, torch.randn(2))
    assert out.shape == (2, image_channels, *size) and torch.isfinite(out).all()


def test_untrained_output_is_exactly_zero() -> None:
    torch.manual_seed(0)
    model = tiny_dit(num_classes=3)
    x = net_input([0, 8], [0, 4], 8, 8)
    assert torch.equal(model(x, torch.randn(2), torch.tensor([0, 3])), torch.zeros(2, 1, 8, 8))
    with torch.no_grad():
        model.final_layer.linear.weight.normal_()
    assert model(x, torch.randn(2)).abs().max() > 0


def test_blocks_start_as_identity() -> None:
    torch.manual_seed(0)
    model = tiny_dit()
    tokens, c = torch.randn(2, 16, 32), torch.randn(2, 32)
    for block in model.blocks:
        assert torch.equal(block(tokens, c), tokens)


class NumberedTokens(nn.Module):
    """Stands in for the final layer: token t's values are 8 t, ..., 8 t + 7."""

    def forward(self, tokens: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        n, t, _ = tokens.shape
        return torch.arange(n * t * 8, dtype=torch.float32).reshape(n, t, 8)  # (N, T, p*p*C)


def test_unpatchify_puts_each_token_back_at_its_pixels() -> None:
    model = tiny_dit(in_channels=4, out_channels=2)
    model.final_layer = NumberedTokens()
    out = model(net_input([0], [0], 8, 12, image_channels=2), torch.zeros(1))  # (1, 2, 8, 12)
    values = torch.arange(4 * 6 * 8.0).reshape(4, 6, 8)  # (h, w, p*p*C), row-major tokens
    for row in range(4):
        for col in range(6):
            pixels = out[0, :, 2 * row:2 * row + 2, 2 * col:2 * col + 2]  # (C, p, p)
            assert sorted(pixels.flatten().tolist()) == values[row, col].tolist()


@pytest.mark.parametrize('pos_embed', ['absolute', 'grid'])
def test_patch_embedding_matches_full_canvas_where_absolute(pos_embed: str) -> None:
    model = tiny_dit(pos_embed=pos_embed)
    full = token_grid(model.position_embedding(net_input([0], [0], R, R)), R, R)[0]  # (8, 8, D)
    tops, lefts = [0, 4, 8, 6], [0, 6, 2, 8]  # multiples of the token patch 2
    patches = token_grid(model.position_embedding(net_input(tops, lefts, 8, 8)), 8, 8)
    for patch, top, left in zip(patches, tops, lefts):
        same_tokens = full[top // 2:top // 2 + 4, left // 2:left // 2 + 4]  # (4, 4, D)
        matches = torch.allclose(patch, same_tokens, rtol=0, atol=1e-6)
        assert matches == (pos_embed == 'absolute' or (top, left) == (0, 0))


def test_grid_and_absolute_agree_on_the_full_canvas() -> None:
    x = net_input([0], [0], R, 2 * R)  # a wider canvas too: positions 0 .. 15 across
    absolute = tiny_dit().position_embedding(x)
    grid = tiny_dit(pos_embed='grid').position_embedding(x)
    torch.testing.assert_close(absolute, grid, rtol=0, atol=1e-5)


def test_absolute_positions_come_from_the_coordinates() -> None:
    model = tiny_dit()
    positions = model.token_positions(net_input([3, -4], [5, 20], 4, 6))  # (2, 2, 2, 3)
    cols, rows = torch.arange(3.0), torch.arange(2.0)
    expected_x = torch.stack([5 / 2 + cols, 20 / 2 + cols])[:, None].expand(2, 2, 3)
    expected_y = torch.stack([3 / 2 + rows, -4 / 2 + rows])[:, :, None].expand(2, 2, 3)
    torch.testing.assert_close(positions[:, 0], expected_x, rtol=0, atol=1e-5)  # fractional,
    torch.testing.assert_close(positions[:, 1], expected_y, rtol=0, atol=1e-5)  # outside too


def test_perturbed_dit_keeps_patch_positions_translation_consistent() -> None:
    model = tiny_dit()
    perturb(model)
    full_input = net_input([0], [0], R, R)
    patch_input = net_input([6], [4], 8, 8)
    assert model(patch_input, torch.zeros(1)).abs().max() > 0  # the net is no longer zero
    full = token_grid(model.position_embedding(full_input), R, R)[0]
    patch = token_grid(model.position_embedding(patch_input), 8, 8)[0]
    torch.testing.assert_close(patch, full[3:7, 2:6], rtol=0, atol=1e-6)


def test_position_embedding_is_not_saved() -> None:
    for pos_embed in ('absolute', 'grid'):
        keys = tiny_dit(pos_embed=pos_embed, num_classes=2).state_dict().keys()
        assert not [key for key in keys if 'pos' in key]
        assert 'patch_embed.weight' in keys


def test_patch_embedding_takes_image_and_coordinates() -> None:
    model = tiny_dit(in_channels=5, out_channels=3)
    assert model.patch_embed.weight.shape == (32, 5, 2, 2)
    perturb(model)
    x = net_input([0, 8], [0, 8], 8, 8, image_channels=3)
    x[1, :3] = x[0, :3]  # same pixels, other coordinates
    out = model(x, torch.zeros(2))
    assert not torch.allclose(out[0], out[1])


def test_unconditional_rejects_labels() -> None:
    model = tiny_dit()
    with pytest.raises(PatchgenError, match='num_classes=0'):
        model(net_input([0], [0], 8, 8), torch.zeros(1), torch.tensor([0]))


def test_noise_labels_change_output() -> None:
    model = tiny_dit()
    perturb(model)
    x = net_input([0], [0], 8, 8)
    assert (model(x, torch.tensor([-1.0])) - model(x, torch.tensor([1.0]))).abs().max() > 1e-6


def test_gradients_reach_every_parameter() -> None:
    model = tiny_dit(num_classes=2)
    perturb(model)
    x = net_input([0, 2, 8], [0, 4, 6], 8, 8)
    model(x, torch.randn(3), torch.tensor([0, 1, 2])).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_arch_parsing() -> None:
    assert parse_arch('S/2') == (12, 384, 6, 2)
    assert parse_arch('XL/4') == (28, 1152, 16, 4)
    model = DiT(in_channels=3, out_channels=1, resolution=R, arch='S/2', depth=1)
    assert (model.depth, model.hidden_size, model.num_heads, model.token_patch) == (1, 384, 6, 2)
    assert len(model.blocks) == 1 and model.patch_embed.weight.shape == (384, 3, 2, 2)
    assert len(DIT_ARCHS) == 12 and {'B/4', 'L/8', 'XL/2'} <= set(DIT_ARCHS)
    overridden = tiny_dit(arch='XL/8', depth=1, hidden_size=16, num_heads=4)
    assert (overridden.depth, overridden.hidden_size, overridden.num_heads,
            overridden.token_patch) == (1, 16, 4, 2)
    with pytest.raises(PatchgenError, match=r"'M/2'.*S/2, S/4.*XL/8") as error:
        tiny_dit(arch='M/2')
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('overrides,words', [
    (dict(hidden_size=30, num_heads=4), '30.*4 heads'),
    (dict(hidden_size=6, num_heads=3), 'divisible by 4'),
    (dict(pos_embed='learned'), 'absolute, grid'),
    (dict(depth=0), 'depth'),
    (dict(in_channels=2, out_channels=1), 'in_channels'),
])
def test_bad_settings_raise(overrides: dict, words: str) -> None:
    with pytest.raises(PatchgenError, match=words):
        tiny_dit(**overrides)


@pytest.mark.parametrize('size', [(10, 16), (16, 6)])
def test_indivisible_size_raises(size: tuple[int, int]) -> None:
    model = tiny_dit(token_patch=4)
    with pytest.raises(PatchgenError, match=f'{size[0]}x{size[1]}.*token patch 4'):
        model(torch.zeros(1, 3, *size), torch.zeros(1))


def test_dit_trains_and_samples_through_patch_diffusion() -> None:
    model = MODELS.build(dict(
        type='PatchDiffusion', image_channels=1, resolution=R,
        backbone=dict(type='DiT', arch='S/2', depth=2, hidden_size=32, num_heads=2),
        schedule=dict(type='EDM'),
        sampler=dict(type='HeunSampler', num_steps=3)))
    assert isinstance(model.backbone, DiT) and model.backbone.in_channels == 3
    optim = SafeOptimWrapper(optimizer=torch.optim.Adam(model.parameters(), lr=1e-3))
    torch.manual_seed(0)
    images = torch.randint(0, 256, (4, 1, R, R), dtype=torch.uint8)
    before = [p.detach().clone() for p in model.parameters()]
    for size in (4, 8, 16):
        log = model.train_step(planned_batch(images, size), optim)
        assert math.isfinite(log['loss'].item()) and optim.last_update == 'stepped'
        assert log['patch_size'].item() == size
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    samples = model.generate([0, 1])
    assert samples.shape == (2, 1, R, R) and torch.isfinite(samples).all()


class TestDiTContract(BackboneContract):
    backbone = dict(type='DiT', depth=2, hidden_size=32, num_heads=2, token_patch=2)


class TestGridDiTContract(BackboneContract):
    backbone = dict(type='DiT', depth=1, hidden_size=16, num_heads=2, token_patch=4,
                    pos_embed='grid')
