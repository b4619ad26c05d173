"""patchgen's own small KL autoencoder, trained by ``patchgen autoencoder train``."""
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor, nn

from patchgen.backbones.unet import group_norm
from patchgen.checkpoint_file import load_checkpoint_file
from patchgen.errors import PatchgenError
from patchgen.registry import AUTOENCODERS

from .base import Autoencoder


class ResBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv, twice, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            group_norm(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            group_norm(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # (N, C, H, W)


class KLNetwork(nn.Module):
    """Convolutional encoder to a diagonal Gaussian over latents, and decoder back.

    Each level after the first halves the image side and changes the width (a
    stride-2 conv in the encoder, nearest x2 then a conv in the decoder, so the
    costly convs run at the lower resolution's width), so ``len(channel_mults)``
    levels give a downsampling factor f of ``2 ** (len(channel_mults) - 1)``.

    Args:
        image_channels: Channels C of the images.
        latent_channels: Channels c of the latents.
        base_channels: Width of the first level.
        channel_mults: Width of each level, as multiples of ``base_channels``.
        num_blocks: Residual blocks per level in the encoder and in the decoder.
    """

    def __init__(self,
                 image_channels: int = 1,
                 latent_channels: int = 4,
                 base_channels: int = 32,
                 channel_mults: Sequence[int] = (1, 2, 2),
                 num_blocks: int = 1) -> None:
        super().__init__()
        if not channel_mults or num_blocks < 1:
            raise PatchgenError('KLNetwork needs at least one level (channel_mults) and one '
                                f'block per level, got {channel_mults} and {num_blocks}')
        widths = [base_channels * m for m in channel_mults]
        self.arguments = dict(image_channels=image_channels, latent_channels=latent_channels,
                              base_channels=base_channels, channel_mults=list(channel_mults),
                              num_blocks=num_blocks)  # what a checkpoint stores
        self.image_channels = image_channels
        self.latent_channels = latent_channels
        self.downsample = 2 ** (len(widths) - 1)

        encoder: list[nn.Module] = [nn.Conv2d(image_channels, widths[0], 3, padding=1)]
        for level, width in enumerate(widths):
            if level:  # halve the side, widen
                encoder.append(nn.Conv2d(widths[level - 1], width, 3, stride=2, padding=1))
            encoder += [ResBlock(width) for _ in range(num_blocks)]
        encoder += [group_norm(widths[-1]), nn.SiLU(),
                    nn.Conv2d(widths[-1], 2 * latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*encoder)

        decoder: list[nn.Module] = [nn.Conv2d(latent_channels, widths[-1], 3, padding=1)]
        for level in reversed(range(len(widths))):
            if level < len(widths) - 1:  # double the side, narrow
                decoder += [nn.Upsample(scale_factor=2.0, mode='nearest'),
                            nn.Conv2d(widths[level + 1], widths[level], 3, padding=1)]
            decoder += [ResBlock(widths[level]) for _ in range(num_blocks)]
        decoder += [group_norm(widths[0]), nn.SiLU(),
                    nn.Conv2d(widths[0], image_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*decoder)

    def posterior(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C, H, W) images -> mean and log-variance, each (N, c, H / f, W / f)."""
        mean, logvar = self.encoder(images).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)

    def forward(self, latents: Tensor) -> Tensor:
        """(N, c, h, w) latents -> (N, C, h * f, w * f) images."""
        return self.decoder(latents)


@AUTOENCODERS.register_module()
class KLAutoencoder(Autoencoder):
    """patchgen's small KL autoencoder (:class:`KLNetwork`): trained weights or a new network.

    Args:
        checkpoint: A file that ``patchgen autoencoder train`` wrote: the
            trained weights, their architecture and the measured latent scale
            and shift. None builds an untrained ``network`` to train.
        network: :class:`KLNetwork` arguments of an untrained network; the
            checkpoint holds them otherwise.
        scale: Latent scale; the checkpoint's measured 1 / std by default
            (1 without a checkpoint).
        shift: Latent shift; the checkpoint's measured mean by default (0 without one).
        batch_size: Images per encoder or decoder call.
    """

    def __init__(self,
                 checkpoint: str | None = None,
                 network: dict | None = None,
                 scale: float | None = None,
                 shift: float | None = None,
                 batch_size: int = 256) -> None:
        if checkpoint is not None and network is not None:
            raise PatchgenError('KLAutoencoder takes `checkpoint` (trained weights, which carry '
                                'their architecture) or `network` (a new one to train), not both')
        state = None if checkpoint is None else read_trained_checkpoint(checkpoint)
        net = KLNetwork(**(state['network'] if state is not None else network or {}))
        if state is not None:
            net.load_state_dict(state['state_dict'])
            scale = state['latent_scale'] if scale is None else scale
            shift = state['latent_shift'] if shift is None else shift
        super().__init__(1.0 if scale is None else scale, 0.0 if shift is None else shift,
                         batch_size)
        self.network = net
        self.image_channels = net.image_channels
        self.latent_channels = net.latent_channels
        self.downsample = net.downsample
        self.trained = state is not None

    def encode_raw(self, images: Tensor) -> Tensor:
        return self.network.posterior(images)[0]  # the mean: deterministic latents

    def decode_raw(self, latents: Tensor) -> Tensor:
        return self.network(latents)


def read_trained_checkpoint(path: str | Path) -> dict:
    """A finished checkpoint of ``patchgen autoencoder train``; others raise PatchgenError."""
    state = load_checkpoint_file(path)
    if 'network' not in state:
        raise PatchgenError(f'{path} is not an autoencoder checkpoint: give the file that '
                            f'`patchgen autoencoder train CONFIG --out AE.pth` wrote')
    if state.get('latent_scale') is None:
        raise PatchgenError(f'{path} is unfinished (step {state["step"]} of '
                            f'{state["max_iters"]}): finish it with `patchgen autoencoder train '
                            f'CONFIG --out {path} --resume`')
    return state
