"""Seeding: every seed patchgen derives for its global random generators comes from here."""
import random

import numpy as np
import torch


def reseed_global_rngs(seed: int, step: int, rank: int) -> None:
    """Seed Python's, numpy's and torch's global generators from (seed, step, rank)."""
    state = int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])
    random.seed(state)
    np.random.seed(state)
    torch.manual_seed(state)
