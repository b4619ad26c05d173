"""Training cost in FLOPs, counted once per patch size with ``torch.utils.flop_counter``.

A FLOP budget is machine-independent, so recipes can be compared on any
machine and can train side by side without one slowing the other's clock.
"""
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@torch.no_grad()
def _probe_inputs(backbone: nn.Module, in_channels: int, size: int, batch: int,
                  num_classes: int) -> tuple:
    device = next(backbone.parameters()).device
    x = torch.zeros(batch, in_channels, size, size, device=device)
    noise_labels = torch.zeros(batch, device=device)
    labels = (torch.full((batch,), num_classes, dtype=torch.long, device=device)
              if num_classes > 0 else None)
    return x, noise_labels, labels


def train_flops_per_image(backbone: nn.Module, in_channels: int, size: int,
                          num_classes: int = 0, batch: int = 2) -> float:
    """FLOPs of the backbone's forward and backward pass for one ``size`` x ``size`` input.

    Counts matrix multiplications, convolutions and attention (what
    ``FlopCounterMode`` counts; elementwise work is left out). The backbone runs
    in eval mode on zeros, so no random generator is touched; its gradients are
    left as they were.

    Args:
        backbone: The network F.
        in_channels: Its input channels (image channels + 2 coordinate channels).
        size: Side of the input.
        num_classes: Its class count (0: unconditional).
        batch: Inputs counted at once (the cost is linear in it).
    """
    x, noise_labels, labels = _probe_inputs(backbone, in_channels, size, batch, num_classes)
    was_training = backbone.training
    saved = [(p, p.grad) for p in backbone.parameters()]
    for param in backbone.parameters():  # backward adds into .grad in place: count on fresh ones
        param.grad = None
    backbone.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            backbone(x, noise_labels, labels).sum().backward()
    finally:
        for param, grad in saved:
            param.grad = grad
        backbone.train(was_training)
    return counter.get_total_flops() / batch
