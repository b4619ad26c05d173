# Does bf16 autocast change quality? recipes/pair_levers.py's full-image recipe trained in bf16,
# to set against its fp32 rows (same seeds: the same initial weights, data order and noise).
import runpy
from pathlib import Path

LEVERS = runpy.run_path(str(Path(__file__).with_name('pair_levers.py')))
FULL_LEARNED = LEVERS['RECIPES']['full_learned']

RECIPES = {
    'full_learned_bf16': dict(config=FULL_LEARNED['config'], options=[
        *FULL_LEARNED['options'], 'optim_wrapper.type=AutocastOptimWrapper',
        'optim_wrapper.dtype=bfloat16']),
}
