# Step 8's small-data regime, where the paper reports patches helping (it trains on as few as
# 5,000 images): the shipped recipes on the first 100 Fashion-MNIST training images only, so
# the 15-minute budget (52,800 GFLOP, 635 full-image steps of batch 32) is about 200 epochs
# and a full-image model can start to memorise. FID is still measured against 2,000 test
# images: what counts is how well the model generalises from the small set.
import runpy
from pathlib import Path

PAIR = runpy.run_path(str(Path(__file__).with_name('pair.py')))
FULL, PATCH, ANNEALED = PAIR['FULL'], PAIR['PATCH'], PAIR['ANNEALED']

SMALL = ['train_dataloader.dataset.indices=100']

RECIPES = {
    'full_100': dict(config=FULL, options=SMALL),
    'patch_paper_100': dict(config=PATCH, options=SMALL),
    'patch_annealed_100': dict(config=PATCH, options=[*ANNEALED, *SMALL]),
}
