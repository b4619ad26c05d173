"""EMA by half-life in images with ramp-up."""
import torch

from patchgen.engine.ema import HalfLifeEMA


def test_beta_follows_halflife_and_rampup() -> None:
    ema = HalfLifeEMA(torch.nn.Linear(1, 1), halflife_images=1000, rampup_ratio=0.05)
    assert ema.beta(100) == 0.0  # nothing seen yet: the ramp-up copies the weights
    ema.images_seen += 4000  # ramp-up half-life = min(1000, 4000 * 0.05) = 200
    assert abs(ema.beta(100) - 0.5 ** (100 / 200)) < 1e-12
    ema.images_seen += 100_000  # ramp-up no longer binds
    assert abs(ema.beta(1000) - 0.5) < 1e-12
    no_rampup = HalfLifeEMA(torch.nn.Linear(1, 1), halflife_images=1000, rampup_ratio=None)
    assert abs(no_rampup.beta(500) - 0.5 ** 0.5) < 1e-12


def test_updates_average_with_the_closed_form_weights() -> None:
    source = torch.nn.Linear(1, 1, bias=False)
    ema = HalfLifeEMA(source, halflife_images=10, rampup_ratio=None)
    torch.nn.init.constant_(source.weight, 2.0)
    ema.update(source, 10)  # the first update copies
    assert ema.module.weight.item() == 2.0
    torch.nn.init.constant_(source.weight, 4.0)
    ema.update(source, 10)  # beta = 0.5: halfway
    assert abs(ema.module.weight.item() - 3.0) < 1e-6
    torch.nn.init.constant_(source.weight, 0.0)
    ema.update(source, 20)  # beta = 0.25
    assert abs(ema.module.weight.item() - 0.75) < 1e-6
    assert int(ema.images_seen) == 40
