# Step 8's recipe pair at the 30-minute budget (105,600 GFLOP: twice the 635 full-image steps
# the reference made in 15 minutes): the shipped full-image config, and the best patch recipe
# of the 15-minute study (the share annealed from patches only to full images only, with the
# configs' learned weighting), its schedule stretched to the longer run (about 1,800 steps).
import runpy
from pathlib import Path

PAIR = runpy.run_path(str(Path(__file__).with_name('pair.py')))
FULL, PATCH = PAIR['FULL'], PAIR['PATCH']
ANNEALED = PAIR['annealed'](1800)

RECIPES = {
    'full': dict(config=FULL, options=[]),
    'patch_annealed': dict(config=PATCH, options=ANNEALED),
}
