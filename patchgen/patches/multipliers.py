"""Multiplier rules: how many data batches a step on patches of side s draws.

A step on small patches is cheap, so it draws several data batches to use the
step well. Each rule maps (resolution R, patch size s) to a whole number >= 1,
with an optional cap:

- ``ReferenceMultiplier``: R // s (the reference code's x4 / x2 / x1 for R/4, R/2, R);
- ``ConstantPixels``: (R // s)^2, so every step sees as many pixels as a full-image step
  (exactly when s divides R);
- ``ConstantTime``: the full-image step's measured time over the time of one
  batch of s patches, so every step costs about as much wall-clock time.
"""
from collections.abc import Mapping

from patchgen.errors import PatchgenError
from patchgen.registry import MULTIPLIER_RULES


class MultiplierRule:
    """Base class: a rule ``multiplier(resolution, size)`` capped by ``max_multiplier``.

    Args:
        max_multiplier: Largest multiplier the rule returns; None means no cap.
    """

    def __init__(self, max_multiplier: int | None = None) -> None:
        if max_multiplier is not None and max_multiplier < 1:
            raise PatchgenError(f'max_multiplier must be at least 1, got {max_multiplier}')
        self.max_multiplier = max_multiplier

    def raw(self, resolution: int, size: int) -> float:
        """The rule's multiplier before rounding and capping."""
        raise NotImplementedError

    def __call__(self, resolution: int, size: int) -> int:
        multiplier = max(1, round(self.raw(resolution, size)))
        return multiplier if self.max_multiplier is None else min(multiplier, self.max_multiplier)


@MULTIPLIER_RULES.register_module()
class ReferenceMultiplier(MultiplierRule):
    """R // s: the reference code's rule (x4 / x2 / x1 for R/4, R/2, R)."""

    def raw(self, resolution: int, size: int) -> float:
        return resolution // size


@MULTIPLIER_RULES.register_module()
class ConstantPixels(MultiplierRule):
    """(R // s)^2: every step sees the pixels of one full-image batch (x16 / x4 / x1)."""

    def raw(self, resolution: int, size: int) -> float:
        return (resolution // size) ** 2


@MULTIPLIER_RULES.register_module()
class ConstantTime(MultiplierRule):
    """Full-image step time over the time of one batch of ``size`` patches, rounded.

    Args:
        seconds: Measured seconds of one optimizer step on one data batch, by
            patch size; must include the resolution R. ``benchmarks/train_throughput.py``
            prints this table for a machine.
        max_multiplier: Cap on the multiplier.
    """

    def __init__(self, seconds: Mapping[int, float], max_multiplier: int | None = None) -> None:
        super().__init__(max_multiplier)
        self.seconds = {int(size): float(value) for size, value in seconds.items()}
        if any(value <= 0 for value in self.seconds.values()):
            raise PatchgenError(f'ConstantTime seconds must be positive, got {self.seconds}')

    def raw(self, resolution: int, size: int) -> float:
        missing = {resolution, size} - set(self.seconds)
        if missing:
            raise PatchgenError(f'ConstantTime has no measured seconds for patch sizes '
                                f'{sorted(missing)}: add them to `seconds`')
        return self.seconds[resolution] / self.seconds[size]
