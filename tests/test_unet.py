"""Tests for the UNet backbone."""
import pytest
import torch
from torch import nn

from patchgen.backbones import UNet
from patchgen.backbones.unet import ResidualBlock, SelfAttention
from patchgen.registry import BACKBONES
from patchgen.testing import BackboneContract


def tiny_unet(**overrides) -> UNet:
    """A 3-level UNet small enough for CPU tests (attention at level 1 of a 32 canvas)."""
    kwargs = dict(in_channels=3, out_channels=1, resolution=32, base_channels=16,
                  channel_mults=(1, 2, 2), num_blocks=1, attn_resolutions=(16,),
                  dropout=0.0)
    kwargs.update(overrides)
    return UNet(**kwargs)


def randomise_zero_init(model: UNet) -> None:
    """Give every zero-initialised layer random weights so all paths carry signal."""
    zero_init_layers = [model.conv_out]
    for module in model.modules():
        if isinstance(module, ResidualBlock):
            zero_init_layers.append(module.conv2)
        elif isinstance(module, SelfAttention):
            zero_init_layers.append(module.proj)
    with torch.no_grad():
        for conv in zero_init_layers:
            nn.init.normal_(conv.weight, std=0.05)
            nn.init.normal_(conv.bias, std=0.05)


def inputs(n: int, channels: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, channels, height, width), torch.randn(n)


def test_registered() -> None:
    model = BACKBONES.build(dict(type='UNet', in_channels=3, out_channels=1, resolution=16,
                                 base_channels=16, channel_mults=(1, 2), num_blocks=1))
    assert isinstance(model, UNet)


@pytest.mark.parametrize('image_channels', [1, 3])
@pytest.mark.parametrize('size', [(8, 8), (32, 32), (16, 32)])
def test_output_shape(image_channels: int, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = tiny_unet(in_channels=image_channels + 2, out_channels=image_channels)
    x, sigma = inputs(2, image_channels + 2, *size)
    assert model(x, sigma).shape == (2, image_channels, *size)


def test_untrained_output_is_zero_until_final_conv_changes() -> None:
    torch.manual_seed(0)
    model = tiny_unet()
    x, sigma = inputs(2, 3, 16, 16)
    assert torch.equal(model(x, sigma), torch.zeros(2, 1, 16, 16))
    with torch.no_grad():
        model.conv_out.weight.normal_()
    assert model(x, sigma).abs().max() > 0


@pytest.mark.parametrize('size', [(10, 16), (16, 6)])
def test_indivisible_size_raises(size: tuple[int, int]) -> None:
    model = tiny_unet()
    x, sigma = inputs(1, 3, *size)
    with pytest.raises(ValueError, match=f'{size[0]}x{size[1]}.*4'):
        model(x, sigma)


def test_attention_placement_follows_canvas_resolution() -> None:
    model = tiny_unet(num_blocks=2)
    # Canvas resolutions 32, 16, 8: only level 1 (16) gets attention.
    for level, blocks in enumerate(model.encoder):
        assert all((b.attn is not None) == (level == 1) for b in blocks)
    for level, blocks in enumerate(model.decoder):
        assert len(blocks) == 3
        assert all((b.attn is not None) == (level == 1) for b in blocks)
    assert model.middle[0].attn is not None and model.middle[1].attn is None
    # 2 encoder + 3 decoder blocks at level 1, plus the middle.
    assert sum(isinstance(m, SelfAttention) for m in model.modules()) == 6

    no_attention = tiny_unet(num_blocks=2, attn_resolutions=())
    assert sum(isinstance(m, SelfAttention) for m in no_attention.modules()) == 1


def test_same_layers_run_for_patches_and_full_canvas() -> None:
    model = tiny_unet()
    seen: list[tuple[str, tuple[int, int]]] = []
    names = {m: n for n, m in model.named_modules()}

    def record(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        seen.append((names[module], out.shape[-2:]))

    hooks = [m.register_forward_hook(record)
             for m in model.modules() if isinstance(m, SelfAttention)]
    calls = {}
    for size in (8, 32):
        seen.clear()
        model(*inputs(1, 3, size, size))
        calls[size] = list(seen)
    for hook in hooks:
        hook.remove()
    assert [n for n, _ in calls[8]] == [n for n, _ in calls[32]]
    # Level-1 attention sees H/2 maps: 4x4 for an 8x8 patch, 16x16 for the canvas.
    assert ('encoder.1.0.attn', (4, 4)) in calls[8]
    assert ('encoder.1.0.attn', (16, 16)) in calls[32]


def test_unconditional_rejects_labels() -> None:
    model = tiny_unet()
    with pytest.raises(ValueError):
        model(*inputs(1, 3, 8, 8), torch.tensor([0]))


def test_dropout_only_in_train_mode() -> None:
    torch.manual_seed(0)
    model = tiny_unet(dropout=0.5)
    randomise_zero_init(model)
    x, sigma = inputs(2, 3, 16, 16)
    model.eval()
    assert torch.equal(model(x, sigma), model(x, sigma))
    model.train()
    assert not torch.allclose(model(x, sigma), model(x, sigma))


@pytest.mark.parametrize('scale_shift', [False, True])
@pytest.mark.parametrize('noise_embedding', ['positional', 'fourier'])
def test_gradients_reach_every_parameter(scale_shift: bool, noise_embedding: str) -> None:
    torch.manual_seed(0)
    model = tiny_unet(num_classes=2, scale_shift=scale_shift, noise_embedding=noise_embedding)
    randomise_zero_init(model)
    x, sigma = inputs(3, 3, 16, 16)
    model(x, sigma, torch.tensor([0, 1, 2])).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize('noise_embedding', ['positional', 'fourier'])
def test_noise_labels_change_output(noise_embedding: str) -> None:
    torch.manual_seed(0)
    model = tiny_unet(noise_embedding=noise_embedding).eval()
    randomise_zero_init(model)
    x = torch.randn(1, 3, 16, 16)
    assert not torch.allclose(model(x, torch.tensor([-1.0])), model(x, torch.tensor([1.0])))


def test_fourier_frequencies_are_a_saved_buffer() -> None:
    torch.manual_seed(0)
    model = tiny_unet(noise_embedding='fourier')
    assert 'noise_embedding.freqs' in model.state_dict()
    assert all(p is not model.noise_embedding.freqs for p in model.parameters())


def test_channels_last_and_autocast() -> None:
    torch.manual_seed(0)
    model = tiny_unet().eval()
    randomise_zero_init(model)
    x, sigma = inputs(2, 3, 16, 16)
    reference = model(x, sigma)
    model_cl = model.to(memory_format=torch.channels_last)
    out_cl = model_cl(x.to(memory_format=torch.channels_last), sigma)
    torch.testing.assert_close(out_cl, reference, rtol=1e-4, atol=1e-5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out_bf16 = model(x, sigma)
    assert out_bf16.shape == reference.shape
    torch.testing.assert_close(out_bf16.float(), reference, rtol=0.1, atol=0.05)


class TestUNetContract(BackboneContract):
    backbone = dict(type='UNet', base_channels=16, channel_mults=(1, 2, 2), num_blocks=1,
                    attn_resolutions=(8,), dropout=0.0)


class TestADMUNetContract(BackboneContract):
    backbone = dict(type='UNet', base_channels=8, channel_mults=(1, 2), num_blocks=1,
                    scale_shift=True, noise_embedding='fourier')
