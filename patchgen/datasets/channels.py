"""Channel conversions of uint8 images, shared by image decoding and transforms."""
import numpy as np

from patchgen.errors import PatchgenError

# ITU-R BT.601 luma weights for R, G, B (the weights PIL's convert('L') uses).
LUMA_601 = np.array([0.299, 0.587, 0.114])


def as_hwc(img: np.ndarray) -> np.ndarray:
    """Restore the channel axis that cv2-based ops drop from one-channel images.

    Args:
        img: (H, W) or (H, W, C) image.

    Returns:
        The same pixels as (H, W, C): a (H, W) image becomes (H, W, 1).
    """
    return img[:, :, None] if img.ndim == 2 else img


def check_channels(channels: int | None) -> None:
    """Raise PatchgenError unless ``channels`` is 1 (greyscale), 3 (RGB) or None."""
    if channels not in (None, 1, 3):
        raise PatchgenError(f'channels={channels!r} is not supported: use 1 (greyscale), '
                            '3 (RGB) or None (keep as found)')


def composite_on_white(img: np.ndarray) -> np.ndarray:
    """Blend an image with alpha (grey+alpha or RGBA) onto a white background.

    Args:
        img: (H, W, 2) or (H, W, 4) uint8 image whose last channel is alpha.

    Returns:
        (H, W, 1) or (H, W, 3) uint8 image.
    """
    colour = img[:, :, :-1].astype(np.uint32)  # (H, W, C - 1)
    alpha = img[:, :, -1:].astype(np.uint32)  # (H, W, 1)
    blended = (colour * alpha + 255 * (255 - alpha) + 127) // 255  # rounded
    return blended.astype(np.uint8)


def convert_channels(img: np.ndarray, channels: int | None) -> np.ndarray:
    """Convert a uint8 image to 1 (greyscale) or 3 (RGB) channels.

    Alpha (grey+alpha, RGBA) is composited on white first; greyscale becomes RGB
    by repeating the channel; RGB becomes greyscale by ITU-R 601 luma
    (0.299 R + 0.587 G + 0.114 B, rounded).

    Args:
        img: (H, W) or (H, W, C) uint8 image with C in 1..4.
        channels: 1, 3, or None to keep the count found (after dropping alpha).

    Returns:
        (H, W, channels) uint8 image (the input itself when nothing changes).
    """
    check_channels(channels)
    img = as_hwc(img)
    if img.shape[2] not in (1, 2, 3, 4):
        raise PatchgenError(f'an image with {img.shape[2]} channels cannot be converted: '
                            'give images with 1 to 4 channels (grey, grey+alpha, RGB, RGBA)')
    if img.shape[2] in (2, 4):
        img = composite_on_white(img)
    target = channels or img.shape[2]
    if img.shape[2] == target:
        return img
    if target == 3:
        return np.repeat(img, 3, axis=2)  # (H, W, 3)
    luma = np.rint(img.astype(np.float64) @ LUMA_601)  # (H, W)
    return luma.astype(np.uint8)[:, :, None]  # (H, W, 1)
