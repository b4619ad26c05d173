"""Watching a run: the scalars and grids a tiny training logs (LocalVisBackend, TensorBoard),
its plots, and its HTML report as headless Chromium renders it."""
import importlib.util
import io
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from PIL import Image

from conftest import TINY_OVERRIDES, assert_one_line_error, needs_mlxtend, patchgen
from patchgen.config import CONFIG_DIR, load_config, parse_cfg_options
from patchgen.engine import WatchHook, build_runner, load_checkpoint_file
from patchgen.engine.optim_wrapper import SafeOptimWrapper
from patchgen.errors import PatchgenError
from patchgen.registry import METRICS
from patchgen.run_log import read_run_log

HAS_TENSORBOARD = importlib.util.find_spec('tensorboard') is not None
CHROMIUM = next(filter(None, map(shutil.which, ('chromium', 'chromium-browser'))), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason='no chromium binary on PATH '
                                                               '(apt-get install -y chromium)')
STEPS = 8


@METRICS.register_module(force=True)
class MeanBrightness(BaseMetric):
    """A cheap in-training metric: the mean pixel value of the sampled images."""

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(float(sample.float().mean()) for sample in data_samples)

    def compute_metrics(self, results: list) -> dict:
        return {'brightness': sum(results) / len(results)}


@pytest.fixture(scope='module')
def work(tmp_path_factory) -> Path:
    """The work dir of an 8-step tiny training with grids and evaluations at steps 4 and 8; its
    visualizer also writes to TensorBoard where tensorboard is installed."""
    init_default_scope('patchgen')
    backends = ["dict(type='LocalVisBackend')"] + (
        ["dict(type='TensorboardVisBackend')"] if HAS_TENSORBOARD else [])
    options = parse_cfg_options([f'visualizer.vis_backends=[{",".join(backends)}]'])
    cfg = load_config(CONFIG_DIR / 'quickstart.py', {
        **TINY_OVERRIDES, **options, 'train_cfg.max_iters': STEPS, 'train_cfg.val_interval': 4,
        'default_hooks.sample_grid.interval': 4})
    cfg.work_dir = str(tmp_path_factory.mktemp('watch') / 'work')
    cfg.experiment_name = f'test_watch_{uuid.uuid4().hex}'
    cfg.val_dataloader = dict(batch_size=4, num_workers=0, dataset=dict(type='SeedDataset', num=4),
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate'))
    cfg.val_evaluator = [dict(type='MeanBrightness')]
    cfg.val_cfg = dict(type='ValLoop')
    build_runner(cfg).train()
    return Path(cfg.work_dir)


@needs_mlxtend
def test_training_logs_scalars_metrics_and_grids_at_their_steps(work: Path) -> None:
    (scalars,) = work.glob('*/vis_data/scalars.json')
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    train = [record for record in records if 'iter' in record]
    assert [record['step'] for record in train] == list(range(1, STEPS + 1))
    for key in ('loss', 'grad_norm', 'lr', 'skipped_steps', 'images_seen'):
        assert all(np.isfinite(record[key]) for record in train), key
    assert all(record['skipped_steps'] == 0 for record in train)
    seen = [record['images_seen'] for record in train]
    assert seen[0] >= 8 and all(a < b for a, b in zip(seen, seen[1:]))
    ema = load_checkpoint_file(work / f'iter_{STEPS}.pth')['ema_state_dict']
    assert seen[-1] == int(ema['images_seen'])  # the EMA counts the same images
    metrics = [record for record in records if 'brightness' in record]
    assert [record['step'] for record in metrics] == [4, 8]  # not step 0
    for step in (4, 8):  # each grid also went to the visualizer, as RGB
        grid = np.asarray(Image.open(work / 'samples' / f'iter_{step:07d}.png'))
        (shown,) = work.glob(f'*/vis_data/vis_image/sample_grid_{step}.png')
        assert np.array_equal(np.asarray(Image.open(shown))[..., 0], grid)
    environment = read_run_log(work).environment
    assert environment['torch'] == torch.__version__ and environment['device']


@needs_mlxtend
@pytest.mark.skipif(not HAS_TENSORBOARD, reason="pip install 'patchgen[tensorboard]'")
def test_tensorboard_backend_switched_on_by_cfg_options_gets_scalars_and_grids(
        work: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    (events,) = work.glob('*/vis_data/events.out.tfevents.*')
    accumulator = EventAccumulator(str(events), size_guidance={'images': 0}).Reload()
    tags = accumulator.Tags()
    assert {'loss', 'grad_norm', 'lr', 'skipped_steps', 'images_seen', 'brightness'} <= set(
        tags['scalars'])
    assert [event.step for event in accumulator.Scalars('brightness')] == [4, 8]
    grids = accumulator.Images('sample_grid')
    assert [event.step for event in grids] == [4, 8]
    assert Image.open(io.BytesIO(grids[-1].encoded_image_string)).size == (
        Image.open(work / 'samples' / f'iter_{STEPS:07d}.png').size)


def assert_real_plot(path: Path) -> None:
    """``path`` is a PNG of a drawn plot, not an empty canvas."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert('RGB'))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300, pixels.shape
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # lines, text, antialiasing


@needs_mlxtend
def test_plots_at_the_end_of_training_and_from_the_cli(work: Path, tmp_path: Path) -> None:
    names = ['loss.png', 'optimizer.png', 'metrics.png', 'grids.png']
    assert sorted(path.name for path in (work / 'plots').iterdir()) == sorted(names)  # the hook
    result = patchgen('plot', str(work), '--out', str(tmp_path / 'plots'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [str(tmp_path / 'plots' / name) for name in names]
    for name in names:
        assert_real_plot(tmp_path / 'plots' / name)
    with Image.open(tmp_path / 'plots' / 'grids.png') as strip:
        assert strip.width > 1.5 * strip.height  # the two grids side by side


@needs_mlxtend
@needs_chromium
def test_report_is_one_self_contained_page_that_chromium_renders(work: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / 'report.html'
    result = patchgen('report', str(work), '--out', str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == str(out)
    page = out.read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(sources) == 3 + 2  # loss, optimizer, metrics; two grids
    assert all(source.startswith('data:image/png;base64,') for source in sources)
    assert not re.search(r'https?://|<script|<link|url\(', page)  # nothing loaded from outside
    brightness = read_run_log(work).last('brightness')[1]

    probe = tmp_path / 'probe.html'  # the page, plus a script that counts decoded images
    probe.write_text(page.replace('</body>', PROBE + '</body>'))
    dom = chromium(tmp_path, '--dump-dom', probe.as_uri()).stdout
    assert re.search(r'id="decoded">5/5<', dom), dom[-500:]
    assert f'{brightness:.6g}' in dom and 'images seen' in dom and 'step 8' in dom
    assert torch.__version__ in dom and "type='MeanBrightness'" in dom  # environment, config

    shot = tmp_path / 'shot.png'
    chromium(tmp_path, f'--screenshot={shot}', '--window-size=1200,2400', out.as_uri())
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert('L'), dtype=np.float64)
    assert pixels.shape == (2400, 1200)
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.02  # text, curves and grids drawn


PROBE = ("<script>addEventListener('load', () => { const images = [...document.images]; "
         "const decoded = images.filter(image => image.complete && image.naturalWidth > 0); "
         "document.body.insertAdjacentHTML('beforeend', "
         "`<p id=\"decoded\">${decoded.length}/${images.length}</p>`); });</script>")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
                             '--hide-scrollbars', f'--user-data-dir={profile / "chromium"}',
                             *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def write_log(run: Path, records: list[dict]) -> None:
    (run / 'vis_data').mkdir(parents=True)
    (run / 'vis_data' / 'scalars.json').write_text(
        ''.join(json.dumps(record) + '\n' for record in records))


def test_a_resumed_run_replaces_the_records_after_its_checkpoint(tmp_path: Path) -> None:
    first = [{'loss': 1.0, 'iter': step, 'step': step} for step in (2, 4, 6)]
    write_log(tmp_path / '20250101_000000', first + [{'fid': 9.0, 'step': 6}])
    resumed = [{'loss': 0.5, 'iter': step, 'step': step} for step in (6, 8)]
    write_log(tmp_path / '20250101_010000', resumed + [{'fid': 7.0, 'step': 8}])
    with open(tmp_path / '20250101_010000' / 'vis_data' / 'scalars.json', 'a') as file:
        file.write('{"loss": 0.4, "it')  # cut short by a killed process
    log = read_run_log(tmp_path)
    steps, losses = log.series('loss')
    assert steps.tolist() == [2, 4, 6, 8] and losses.tolist() == [1.0, 1.0, 0.5, 0.5]
    assert [record['step'] for record in log.evaluations] == [8] and log.runs == 2
    assert log.metric_names() == ['fid'] and log.images_seen(steps) is None


def test_the_report_shows_the_grids_one_by_one_and_draws_no_strip(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from patchgen import run_plots
    from patchgen.report import write_report
    write_log(tmp_path / '20250101_000000', [{'loss': 1.0, 'iter': 4, 'step': 4}])
    (tmp_path / 'samples').mkdir()
    for step in (4, 8):
        Image.new('L', (8, 8), 128).save(tmp_path / 'samples' / f'iter_{step}.png')
    monkeypatch.setitem(run_plots.FIGURES, 'grids', lambda log: pytest.fail('drew the strip'))
    page = write_report(tmp_path).read_text()
    assert page.count('data:image/png;base64,') == 1 + 2  # the loss; the two grids


def test_bad_input_ends_in_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(patchgen('plot', str(tmp_path / 'missing')), 'is not a folder')
    assert_one_line_error(patchgen('report', str(tmp_path)), 'is not a training work dir')
    from patchgen.report import write_report
    write_log(tmp_path / '20250101_000000', [{'loss': 1.0, 'iter': 1, 'step': 1}])
    (tmp_path / 'file').write_text('')
    with pytest.raises(PatchgenError, match='cannot write'):
        write_report(tmp_path, tmp_path / 'file' / 'report.html')


def test_without_matplotlib_plots_are_an_error_and_the_hook_only_warns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from patchgen.run_plots import write_plots
    write_log(tmp_path / '20250101_000000', [{'loss': 1.0, 'iter': 1, 'step': 1}])
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *args: None if name == 'matplotlib' else real_find_spec(name))
    with pytest.raises(PatchgenError, match=r"pip install 'patchgen\[plots\]'"):
        write_plots(tmp_path)
    warnings = []
    runner = SimpleNamespace(work_dir=str(tmp_path), logger=SimpleNamespace(
        warning=warnings.append, info=None))
    WatchHook().after_train(runner)
    assert len(warnings) == 1 and 'matplotlib' in warnings[0]


def test_the_optimizer_wrapper_counts_skipped_steps_in_the_message_hub() -> None:
    MessageHub.get_instance(f'test_skips_{uuid.uuid4().hex}')  # a fresh current hub
    weight = torch.nn.Parameter(torch.ones(3))
    optim = SafeOptimWrapper(optimizer=torch.optim.SGD([weight], lr=0.1))
    for factor in (1.0, float('nan'), 1.0, float('nan')):
        optim.update_params((weight * factor).sum())
    history = optim.message_hub.get_scalar('train/skipped_steps')
    assert history.data[0].tolist() == [0, 1, 1, 2] and optim.skipped_steps == 2


def test_cfg_options_read_dicts_as_python() -> None:
    backends = "[dict(type='LocalVisBackend'), {'type': 'TensorboardVisBackend'}]"
    assert parse_cfg_options([f'visualizer.vis_backends={backends}']) == {
        'visualizer.vis_backends': [{'type': 'LocalVisBackend'},
                                    {'type': 'TensorboardVisBackend'}]}
    with pytest.raises(PatchgenError, match='cannot read'):
        parse_cfg_options(['visualizer.vis_backends=[dict(type=Local)]'])
