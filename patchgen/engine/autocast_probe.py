"""Time training steps in fp32 and under autocast, to switch autocast on only where it pays."""
import time
from collections.abc import Callable, Mapping
from functools import partial

import torch
from torch import Tensor, nn


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer measures it."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def step_seconds(step: Callable[[], None], device: torch.device, repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``step`` after one warm-up run."""
    times = []
    for _ in range(repeats + 1):
        synchronize(device)
        began = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - began)
    return min(times[1:])


def loss_step(model: nn.Module, images: Tensor, size: int, dtype: torch.dtype | None) -> None:
    """One forward and backward pass of ``model.loss`` on ``images`` (N, C, R, R), cropped
    to ``size`` at the corner, under autocast to ``dtype`` (None: fp32)."""
    n = len(images)
    corner = torch.zeros(n, dtype=torch.long, device=images.device)  # (N,) crops at (0, 0)
    labels = corner if model.num_classes > 0 else None
    with torch.autocast(images.device.type, dtype=dtype or torch.bfloat16,
                        enabled=dtype is not None):
        loss = model.loss(images, size, corner, corner, torch.arange(n), labels)['loss']
    loss.backward()


def autocast_speedup(model: nn.Module, steps: Mapping[tuple[int, int], float],
                     dtype: torch.dtype, repeats: int = 2) -> float:
    """The mean fp32 step time over the mean autocast step time of ``model.loss``.

    Args:
        model: A PatchDiffusion model (unwrapped).
        steps: ``{(patch size, images per step): share of the steps}``, the run's
            mix; each kind of step is timed on random images and weighed by its share.
        dtype: The autocast dtype.
        repeats: Timed runs per kind of step and precision (the fastest counts),
            after one warm-up run.

    The model's weights, gradients and the global random state are left as they
    were, so a run that probes trains exactly as one that does not.
    """
    device = next(model.parameters()).device
    params = [param for param in model.parameters() if param.requires_grad]
    grads = [param.grad for param in params]  # set aside: backward adds to them in place
    for param in params:
        param.grad = None

    side = model.resolution
    images = {n: torch.rand(n, model.image_channels, side, side,  # (n, C, R, R) in [-1, 1)
                            generator=torch.Generator().manual_seed(0)).to(device) * 2 - 1
              for n in {n for _, n in steps}}  # made once, outside the timed steps

    def mean_seconds(precision: torch.dtype | None) -> float:
        return sum(share * step_seconds(partial(loss_step, model, images[n], size, precision),
                                        device, repeats) for (size, n), share in steps.items())

    try:
        with torch.random.fork_rng(devices=[device] if device.type == 'cuda' else []):
            fp32 = mean_seconds(None)
            cast = mean_seconds(dtype)
    finally:
        for param, grad in zip(params, grads):
            param.grad = grad
    return fp32 / cast
