# Step 8's recipe pair at the 5-minute budget (17,600 GFLOP: a third of the 635 full-image
# steps the reference made in 15 minutes), to see whether patches lead at short budgets (an
# earlier one-seed measurement had them ahead at 5 minutes, level at 10, behind at 15): the
# shipped full-image config, and the annealed patch recipe with its schedule shrunk to the
# shorter run (about 300 steps); and both with noise levels drawn higher, the lever that made
# the quickstart's digits recognisable (ln sigma ~ N(0.8, 1.2) instead of EDM's N(-1.2, 1.2)).
import runpy
from pathlib import Path

PAIR = runpy.run_path(str(Path(__file__).with_name('pair.py')))
FULL, PATCH = PAIR['FULL'], PAIR['PATCH']
ANNEALED = PAIR['annealed'](300)
HIGH_NOISE = PAIR['HIGH_NOISE']

RECIPES = {
    'full': dict(config=FULL, options=[]),
    'patch_annealed': dict(config=PATCH, options=ANNEALED),
    'full_high_noise': dict(config=FULL, options=HIGH_NOISE),
    'patch_annealed_high_noise': dict(config=PATCH, options=[*ANNEALED, *HIGH_NOISE]),
}
