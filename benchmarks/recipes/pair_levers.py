# Step 8's second pair at the 15-minute budget (52,800 GFLOP), two seeds: the lever that
# helped patches at 32k GFLOP (EDM2's learned per-noise-level uncertainty weighting) on the
# best patch recipe of recipes/pair.py (the share annealed from patches only to full images
# only) and, for fairness, on the full-image recipe.
import runpy
from pathlib import Path

PAIR = runpy.run_path(str(Path(__file__).with_name('pair.py')))
FULL, PATCH, ANNEALED = PAIR['FULL'], PAIR['PATCH'], PAIR['ANNEALED']

LEARNED = ['model.weighting.type=LearnedUncertaintyWeighting']

RECIPES = {
    'full_learned': dict(config=FULL, options=LEARNED),
    'patch_annealed_learned': dict(config=PATCH, options=[*ANNEALED, *LEARNED]),
}
