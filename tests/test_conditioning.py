"""Class conditioning: label dropout in training, classifier-free guidance in sampling."""
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import QUICKSTART, loss_draws, needs_mlxtend, patchgen, tiny_options
from patchgen.errors import PatchgenError
from patchgen.inference import sample_to_folder, seed_labels
from patchgen.registry import MODELS


def conditional_model(label_dropout: float = 0.25) -> torch.nn.Module:
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='PatchDiffusion', image_channels=1, resolution=16, num_classes=3,
        label_dropout=label_dropout,
        backbone=dict(type='UNet', base_channels=16, channel_mults=(1, 2), num_blocks=1,
                      attn_resolutions=(), dropout=0.0),
        schedule=dict(type='EDM'),
        sampler=dict(type='HeunSampler', num_steps=3)))
    for param in model.parameters():  # make the zero-initialised output layer matter
        torch.nn.init.normal_(param, std=0.05)
    return model


def labels_seen_by_backbone(model: torch.nn.Module, labels: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = model.backbone.register_forward_hook(
        lambda module, args, output: seen.append(args[2].clone()))
    images = torch.zeros(len(labels), 1, 16, 16)
    model.loss(images, 4, *loss_draws(images, 4), labels)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize('rate', [0.0, 0.25])
def test_label_dropout_rate_is_as_configured(rate: float) -> None:
    model = conditional_model(rate).train()
    labels = torch.randint(0, 3, (20_000,), generator=torch.Generator().manual_seed(0))
    seen = labels_seen_by_backbone(model, labels)
    dropped = seen == 3  # the null label
    assert torch.equal(seen[~dropped], labels[~dropped])  # the others pass unchanged
    assert abs(dropped.float().mean().item() - rate) < 0.01  # 4 sigma at n = 20,000
    model.eval()
    assert torch.equal(labels_seen_by_backbone(model, labels[:100]), labels[:100])  # no dropout


def test_guidance_combines_conditional_and_null_predictions() -> None:
    model = conditional_model().eval()
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    sigma = torch.full((4,), 2.0)
    coords = torch.zeros(4, 2, 16, 16)
    labels = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        conditional = model.denoise(x, sigma, coords, labels)
        null = model.denoise(x, sigma, coords, torch.full_like(labels, 3))
        assert not torch.allclose(conditional, null)  # the label matters
        for w in (0.0, 1.0, 2.5):
            guided = model.guided_denoiser(coords, labels, w)(x, sigma)
            torch.testing.assert_close(guided, null + w * (conditional - null))
        assert torch.equal(model.guided_denoiser(coords, labels, 1.0)(x, sigma), conditional)


def test_w1_samples_equal_conditional_samples_and_labels_follow_seeds(tmp_path) -> None:
    model = conditional_model().eval()
    labels = seed_labels(model, [3, 4, 5])
    assert labels.tolist() == [0, 1, 2]
    plain = model.generate([3, 4, 5], labels)
    torch.testing.assert_close(model.generate([3, 4, 5], labels, guidance=1.0), plain)
    assert not torch.allclose(model.generate([3, 4, 5], labels, guidance=3.0), plain)
    with pytest.raises(PatchgenError, match='outside 0..2'):
        sample_to_folder(model, [0], tmp_path, class_label=7)


@needs_mlxtend
def test_cli_samples_a_class_with_guidance_and_a_grid_row_per_class(tmp_path: Path) -> None:
    work = tmp_path / 'work'
    trained = patchgen('train', QUICKSTART, '--work-dir', str(work), *tiny_options(**{
        'train_cfg.max_iters': 2, 'default_hooks.checkpoint.interval': 2,
        'model.num_classes': 10}))
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = str(work / 'iter_2.pth')
    guided = patchgen('sample', checkpoint, '--num', '3', '--steps', '2', '--out',
                      str(tmp_path / 'three'), '--class-label', '3', '--guidance', '2')
    assert guided.returncode == 0, guided.stderr[-3000:]
    assert len(list((tmp_path / 'three').glob('*.png'))) == 3
    grid = tmp_path / 'grid.png'
    classes = patchgen('sample', checkpoint, '--num', '20', '--steps', '2', '--out',
                       str(tmp_path / 'all'), '--guidance', '2', '--grid', str(grid))
    assert classes.returncode == 0, classes.stderr[-3000:]
    assert Image.open(grid).size == (2 * 34 + 2, 10 * 34 + 2)  # 10 rows (classes) of 2
