"""uint8 pixels and [-1, 1] images convert into each other exactly."""
import torch

from patchgen.images import dequantize, quantize


def test_dequantize_spans_minus_one_to_one_and_quantize_undoes_it() -> None:
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    images = dequantize(pixels)
    assert images.dtype == torch.float32
    assert images.min().item() == -1.0 and images.max().item() == 1.0
    assert torch.equal(quantize(images), pixels)
