"""Every registry of patchgen.

Registries that mmengine also has (models, datasets, hooks, ...) are children
of mmengine's roots, so that the Runner builds patchgen's parts when a config
sets ``default_scope = 'patchgen'``. The others are patchgen's own roots. Each
registry imports its modules lazily from ``locations`` on first use.

Register your own part in one line, e.g. ``@BACKBONES.register_module()``.
"""
from typing import Any

from mmengine import registry as mmengine_registry
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry, init_default_scope

SCOPE = 'patchgen'

# Children of mmengine's roots: the Runner builds these by name.
MODELS = Registry('model', parent=MMENGINE_MODELS, scope=SCOPE,
                  locations=['patchgen.models', 'patchgen.engine'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope=SCOPE,
                    locations=['patchgen.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope=SCOPE,
                      locations=['patchgen.datasets.transforms'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope=SCOPE,
                 locations=['patchgen.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope=SCOPE,
                 locations=['patchgen.engine'])
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope=SCOPE,
                   locations=['patchgen.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=mmengine_registry.OPTIM_WRAPPERS, scope=SCOPE,
                          locations=['patchgen.engine'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=mmengine_registry.MODEL_WRAPPERS, scope=SCOPE,
                          locations=['patchgen.engine'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope=SCOPE,
                   locations=['patchgen.evaluation'])

# patchgen's own roots: the parts that the PatchDiffusion model glues together.
BACKBONES = Registry('backbone', scope=SCOPE, locations=['patchgen.backbones'])
NOISE_SCHEDULES = Registry('noise schedule', scope=SCOPE,
                           locations=['patchgen.schedules'])
PATCH_SAMPLERS = Registry('patch sampler', scope=SCOPE,
                          locations=['patchgen.patches'])
MULTIPLIER_RULES = Registry('multiplier rule', scope=SCOPE,
                            locations=['patchgen.patches'])
LOSS_WEIGHTINGS = Registry('loss weighting', scope=SCOPE,
                           locations=['patchgen.models'])
SAMPLERS = Registry('sampler', scope=SCOPE, locations=['patchgen.samplers'])
FEATURE_EXTRACTORS = Registry('feature extractor', scope=SCOPE,
                              locations=['patchgen.evaluation'])
AUTOENCODERS = Registry('autoencoder', scope=SCOPE, locations=['patchgen.autoencoders'])

# Empty children of mmengine's other roots, so that building their parts (optimizers,
# schedulers, visualizers, ...) under the 'patchgen' scope finds mmengine's own.
SCOPE_ONLY = {name: Registry(getattr(mmengine_registry, name).name,
                             parent=getattr(mmengine_registry, name), scope=SCOPE)
              for name in ('DATA_SAMPLERS', 'OPTIMIZERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
                           'PARAM_SCHEDULERS', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS',
                           'WEIGHT_INITIALIZERS', 'EVALUATOR', 'TASK_UTILS',
                           'FUNCTIONS', 'STRATEGIES', 'INFERENCERS', 'RUNNER_CONSTRUCTORS')}

ALL_REGISTRIES: dict[str, Registry] = {
    'MODELS': MODELS,
    'BACKBONES': BACKBONES,
    'NOISE_SCHEDULES': NOISE_SCHEDULES,
    'PATCH_SAMPLERS': PATCH_SAMPLERS,
    'MULTIPLIER_RULES': MULTIPLIER_RULES,
    'LOSS_WEIGHTINGS': LOSS_WEIGHTINGS,
    'SAMPLERS': SAMPLERS,
    'METRICS': METRICS,
    'FEATURE_EXTRACTORS': FEATURE_EXTRACTORS,
    'AUTOENCODERS': AUTOENCODERS,
    'DATASETS': DATASETS,
    'TRANSFORMS': TRANSFORMS,
    'HOOKS': HOOKS,
    'LOOPS': LOOPS,
    'RUNNERS': RUNNERS,
    'OPTIM_WRAPPERS': OPTIM_WRAPPERS,
    'MODEL_WRAPPERS': MODEL_WRAPPERS,
}


def build_in_scope(registry: Registry, cfg: dict, scope: str | None = None) -> Any:
    """Build ``cfg`` from ``registry`` with ``scope`` (None: patchgen's) as mmengine's default
    scope, which stays set afterwards, as the Runner and the parts it builds expect."""
    init_default_scope(scope or SCOPE)
    return registry.build(cfg)
