"""``patchgen info CHECKPOINT``: what a checkpoint holds, read without running code from it."""
from pathlib import Path
from typing import Annotated, Any

import typer

from patchgen.cli.evaluate import Json
from patchgen.cli.output import show_findings
from patchgen.cli.train import TrustCheckpoint
from patchgen.errors import PatchgenError

# The config keys that say what was trained and how, in the order shown.
SUMMARY_KEYS = (
    'model.type', 'model.backbone.type', 'model.backbone.arch', 'model.backbone.base_channels',
    'model.resolution', 'model.image_channels', 'model.num_classes', 'model.schedule.type',
    'model.weighting.type', 'model.sampler.type', 'model.sampler.num_steps',
    'train_cfg.patch_sampler.type', 'train_cfg.patch_sampler.real_p', 'train_cfg.max_iters',
    'train_dataloader.dataset.type', 'train_dataloader.batch_size', 'optim_wrapper.type',
    'optim_wrapper.optimizer.type', 'optim_wrapper.optimizer.lr', 'randomness.seed')


def lookup(config: dict, key: str) -> Any:
    """The value at dotted ``key`` of ``config``; None where a part is missing."""
    node: Any = config
    for part in key.split('.'):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def ema_settings(config: dict) -> dict | None:
    """The EMA hook's config (default or custom hook), or None when training kept no EMA."""
    hooks = [*(config.get('default_hooks') or {}).values(), *(config.get('custom_hooks') or [])]
    found = [hook for hook in hooks if isinstance(hook, dict) and 'EMA' in str(hook.get('type'))]
    return found[0] if found else None


def last_metrics(message_hub: dict) -> dict[str, float]:
    """The latest value of each validation metric in the checkpoint's message hub."""
    scalars = message_hub.get('log_scalars', {})
    return {key.removeprefix('val/'): value['logs'][-1] for key, value in scalars.items()
            if key.startswith('val/') and isinstance(value, dict) and value.get('logs')}


def checkpoint_info(path: Path, trusted: bool = False) -> dict[str, Any]:
    """Step, images seen, EMA, config summary, metrics, versions and SHA-256 of a checkpoint."""
    import mmengine
    import torch

    import patchgen
    from patchgen.checkpoint_file import load_checkpoint_file
    from patchgen.config import config_from_text
    from patchgen.evaluation.weights import sha256_of
    checkpoint = load_checkpoint_file(path, trusted=trusted)
    meta = checkpoint.get('meta') or {}
    try:
        config, config_note = config_from_text(meta.get('cfg') or ''), None
    except PatchgenError as error:
        config, config_note = {}, str(error)
    averaged = checkpoint.get('ema_state_dict') or {}
    ema = ema_settings(config)
    if ema is not None and 'steps' in averaged:
        ema = {**ema, 'updates': int(averaged['steps'])}
    images_seen = averaged.get('images_seen')
    return dict(
        file=str(path), bytes=path.stat().st_size, sha256=sha256_of(path),
        step=meta.get('iter'), images_seen=None if images_seen is None else int(images_seen),
        parameters=sum(value.numel() for value in checkpoint['state_dict'].values()
                       if isinstance(value, torch.Tensor)),
        ema=ema, experiment=meta.get('experiment_name'), saved=meta.get('time'),
        config={key: value for key in SUMMARY_KEYS if (value := lookup(config, key)) is not None},
        config_note=config_note, metrics=last_metrics(checkpoint.get('message_hub') or {}),
        versions=dict(stored={name.removesuffix('_version'): value for name, value in meta.items()
                              if name.endswith('_version')},
                      current=dict(patchgen=patchgen.__version__, torch=torch.__version__,
                                   mmengine=mmengine.__version__)))


def info_rows(info: dict[str, Any]) -> dict[str, str]:
    """The findings of :func:`checkpoint_info` as lines of text."""
    def listed(values: dict) -> str:
        return ', '.join(f'{key} {value}' for key, value in values.items()) or 'none'

    seen = info['images_seen']
    rows = {'file': f'{info["file"]} ({info["bytes"]:,} bytes)', 'sha256': info['sha256'],
            'step': str(info['step']), 'images seen': 'unknown' if seen is None else f'{seen:,}',
            'parameters': f'{info["parameters"]:,}',
            'EMA': listed(info['ema']) if info['ema'] else 'none',
            'experiment': f'{info["experiment"]} (saved {info["saved"]})',
            'metrics': listed(info['metrics']),
            'versions': f'stored: {listed(info["versions"]["stored"])}; running: '
                        f'{listed(info["versions"]["current"])}'}
    rows.update({key: str(value) for key, value in info['config'].items()})
    if info['config_note']:
        rows['config'] = info['config_note']
    return rows


def info(checkpoint: Annotated[Path, typer.Argument(help='A .pth file written by training.')],
         trust_checkpoint: TrustCheckpoint = False, as_json: Json = False) -> None:
    """Show what a checkpoint holds: step, images seen, EMA, config, metrics, versions, hash."""
    found = checkpoint_info(checkpoint, trust_checkpoint)
    show_findings(f'checkpoint {checkpoint.name}', info_rows(found), found, as_json)
