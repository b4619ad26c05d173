"""The interface every denoiser backbone implements."""
from typing import ClassVar

from torch import Tensor, nn


class Backbone(nn.Module):
    """The network F of the denoiser ``D(x) = c_skip x + c_out F([c_in x, coords], c_noise)``.

    ``PatchDiffusion`` builds it from ``BACKBONES`` with four arguments filled in:
    ``in_channels`` (image channels C + 2 coordinate channels), ``out_channels``
    (C), ``resolution`` (the training canvas R, which the coordinates span) and
    ``num_classes`` (0: unconditional; else labels ``0 .. num_classes - 1`` and the
    null label ``num_classes``); the config adds the backbone's own options.

    It must work at every size the patch sizes give, on the full canvas and
    on larger canvases (sampling), use the ``[x, y]`` coordinate channels, take
    None labels as the null label, and depend only on the global seed when
    built. :class:`patchgen.testing.BackboneContract` checks all of this.

    Attributes:
        zero_init_output: True promises that an untrained backbone outputs
            exactly zero (its last layer starts at zero), so the untrained
            denoiser is the skip ``c_skip x``.
    """

    zero_init_output: ClassVar[bool] = False

    def forward(self, x: Tensor, noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        """F(x, c_noise, class).

        Args:
            x: (N, in_channels, H, W): the image channels, then the ``[x, y]`` coordinates.
            noise_labels: (N,) float noise conditioning c_noise.
            class_labels: (N,) long in ``[0, num_classes]``, or None: the null label for all.

        Returns:
            (N, out_channels, H, W).
        """
        raise NotImplementedError(f'{type(self).__name__} does not define forward')
