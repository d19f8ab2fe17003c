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


def quick_run(workload: str, tmp_path: Path) -> dict:
    """The one measure of `bench/run.py --quick --workloads WORKLOAD`, from its JSON."""
    report = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--workloads", workload, "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (measure,) = json.loads(report.read_text())["results"]
    return measure


def test_quick_steady_state_workload_runs(tmp_path):
    measure = quick_run("steady", tmp_path)
    assert measure["tool"] == "crossposter"
    assert measure["exit_codes"] == [0]
    assert measure["feed_requests"] == {"requests": 50, "conditional": 50, "304": 50}
    assert measure["mastodon_requests"] == {}


def test_quick_loop_workload_runs_passes_in_one_process(tmp_path):
    measure = quick_run("loop", tmp_path)
    assert measure["workload"].endswith("a run --loop pass")
    assert measure["exit_codes"] == [0]
    assert len(measure["runs"]) == 1  # the passes after the first
    assert measure["feed_requests"] == {"requests": 50, "conditional": 50, "304": 50}
    assert measure["mastodon_requests"] == {}
