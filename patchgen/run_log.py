"""What a training work dir records about its run: logged scalars, sample grids, config and
environment, read back for ``patchgen plot`` and ``patchgen report``."""
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from patchgen.errors import PatchgenError

GRID_NAME = re.compile(r'iter_(\d+)\.png')  # SampleGridHook's files in WORK_DIR/samples
ENVIRONMENT_FILE = 'environment.json'  # WatchHook's, in each run's log folder
NOT_METRICS = frozenset({'step', 'time', 'data_time'})  # what evaluation records hold besides


@dataclass(frozen=True)
class RunLog:
    """The records of a work dir, its runs (the first start and each resume) joined in order.

    Attributes:
        folder: The work dir.
        train: One record per logged training step (``step``, ``loss``, ``lr``,
            ``grad_norm``, ``skipped_steps``, ``images_seen``, ...), by step.
        evaluations: One record per in-training evaluation (``step`` and metrics), by step.
        grids: (step, path) of each sample grid, by step.
        config: The newest run's config as Python text ('' where not recorded).
        environment: The newest run's versions and device ({} where not recorded).
        runs: How many runs (start and resumes) logged into the work dir.
    """

    folder: Path
    train: list[dict]
    evaluations: list[dict]
    grids: list[tuple[int, Path]]
    config: str
    environment: dict
    runs: int

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the training scalar ``key`` at each step that logged it."""
        records = [record for record in self.train if key in record]
        return (np.array([record['step'] for record in records], dtype=np.int64),
                np.array([record[key] for record in records], dtype=np.float64))

    def metric_names(self) -> list[str]:
        """Names of the metrics evaluated during training, in order of first appearance."""
        names = dict.fromkeys(key for record in self.evaluations for key in record)
        return [name for name in names if name not in NOT_METRICS]

    def images_seen(self, steps: np.ndarray) -> np.ndarray | None:
        """Images drawn by the end of each of ``steps`` (interpolated between logged steps);
        None where the training logs do not all record ``images_seen``."""
        if not self.train or any('images_seen' not in record for record in self.train):
            return None
        logged, seen = self.series('images_seen')
        return np.interp(steps, np.concatenate([[0], logged]), np.concatenate([[0], seen]))

    def last(self, key: str) -> tuple[int, float] | None:
        """(step, value) of the last record of training scalar or metric ``key``, or None."""
        for record in reversed(self.evaluations if key in self.metric_names() else self.train):
            if key in record:
                return record['step'], record[key]
        return None


def read_records(path: Path) -> list[dict]:
    """The JSON records of one ``scalars.json`` (one per line); a line cut short by a killed
    process is left out."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [record for record in records if isinstance(record.get('step'), int)]


def join_runs(runs: list[list[dict]]) -> list[dict]:
    """The records of successive runs as one history: a run resumed from an earlier checkpoint
    replaces what the previous runs logged from its first step on."""
    joined: list[dict] = []
    for records in runs:
        if records:
            start = min(record['step'] for record in records)
            joined = [record for record in joined if record['step'] < start] + records
    return joined


def read_run_log(folder: Path) -> RunLog:
    """Read what a work dir records (see :class:`RunLog`).

    Raises:
        PatchgenError: ``folder`` is not a folder, or holds neither logs nor sample grids.
    """
    if not folder.is_dir():
        raise PatchgenError(f'{folder} is not a folder: give the work dir of a training run')
    logs = sorted(folder.glob('*/vis_data/scalars.json'), key=lambda path: path.parts[-3])
    grids = sorted((int(match.group(1)), path) for path in (folder / 'samples').glob('iter_*.png')
                   if (match := GRID_NAME.fullmatch(path.name)))
    if not logs and not grids:
        raise PatchgenError(f'{folder} is not a training work dir: it holds no logs '
                            f'(TIMESTAMP/vis_data/scalars.json) and no sample grids '
                            f'(samples/iter_*.png)')
    records = join_runs([read_records(path) for path in logs])
    run_folders = [path.parents[1] for path in reversed(logs)]  # newest first
    configs = [text for run in run_folders if (text := read_text(run / 'vis_data' / 'config.py'))]
    environments = [text for run in run_folders if (text := read_text(run / ENVIRONMENT_FILE))]
    return RunLog(folder=folder, train=[record for record in records if 'iter' in record],
                  evaluations=[record for record in records if 'iter' not in record],
                  grids=grids, config=configs[0] if configs else '',
                  environment=json.loads(environments[0]) if environments else {},
                  runs=len(logs))


def read_text(path: Path) -> str:
    """The text of ``path``, or '' where there is no such file."""
    return path.read_text() if path.is_file() else ''
