"""FLOP counts of a training step, and the budget hook that spends them."""
import types

import pytest
import torch
from torch import nn

from patchgen.engine.budget_hook import BudgetHook
from patchgen.flops import train_flops_per_image


class TwoConvs(nn.Module):
    """A backbone of two 3x3 convolutions (C + 2 -> 4 -> C channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        self.out = nn.Conv2d(4, 1, kernel_size=3, padding=1)

    def forward(self, x, noise_labels, class_labels=None):
        return self.out(self.conv(x))


@pytest.mark.parametrize('size', [4, 8])
def test_training_flops_are_the_forward_and_backward_convolutions(size: int) -> None:
    first = 2 * 3 * 9 * 4 * size * size  # 2 x multiply-adds of the first conv
    second = 2 * 4 * 9 * 1 * size * size
    # backward: each conv's weight gradient (a forward's worth), and the gradient of the second
    # conv's input; the first conv's input (the data) needs none
    assert train_flops_per_image(TwoConvs(), 3, size) == 2 * first + 3 * second


def test_counting_leaves_accumulating_gradients_alone() -> None:
    net = TwoConvs()
    net.conv.weight.grad = torch.ones_like(net.conv.weight)
    grad = net.conv.weight.grad
    train_flops_per_image(net, 3, 8)
    assert net.conv.weight.grad is grad and torch.equal(grad, torch.ones_like(grad))
    assert net.out.weight.grad is None and net.training


def test_snapshots_fall_on_the_exact_fractions_of_a_step_budget(tmp_path) -> None:
    saved = []
    runner = types.SimpleNamespace(
        model=types.SimpleNamespace(backbone=TwoConvs(), image_channels=1, num_classes=0),
        save_checkpoint=lambda out_dir, name, **kwargs: saved.append((name, kwargs['meta'])),
        logger=types.SimpleNamespace(info=lambda message: None),
        train_loop=types.SimpleNamespace(stop_training=False), work_dir=str(tmp_path))
    hook = BudgetHook(budget=22, unit='steps', snapshots=22)
    hook.before_train(runner)
    batch = {'inputs': torch.zeros(2, 1, 8, 8), 'patch_size': 8}
    for step in range(1, 23):
        hook.after_train_iter(runner, step - 1, batch)
        assert len(saved) == step, step  # 15 * 22 / 22 is 14.999... in floating point
    assert saved[-1][1]['cost']['steps'] == 22 and saved[-1][1]['cost']['images'] == 44
    assert runner.train_loop.stop_training
