"""Reaching the model inside a model wrapper (DDP, FSDP)."""
from mmengine.model import is_model_wrapper
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model that ``model`` wraps, or ``model`` itself when it is no model wrapper."""
    return model.module if is_model_wrapper(model) else model
