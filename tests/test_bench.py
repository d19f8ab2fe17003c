"""The benchmark script runs: its smallest workload, once, crossposter only.

It proves bench/run.py works end to end (servers in their own processes,
request counting, a real run); it times nothing. The numbers live in
BENCHMARKS.md, measured by the full `python bench/run.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def test_quick_steady_state_workload_runs(tmp_path):
    report = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--workloads", "steady", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (measure,) = json.loads(report.read_text())["results"]
    assert measure["tool"] == "crossposter"
    assert measure["exit_codes"] == [0]
    assert measure["feed_requests"] == {"requests": 50, "conditional": 50, "304": 50}
    assert measure["mastodon_requests"] == {}
