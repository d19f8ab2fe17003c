"""The benchmark script runs: its smallest workload, once, crossposter only.

It proves bench/run.py works end to end (servers in their own processes,
request counting, a real run); it times nothing. The workers workloads are
checked for what they must show whatever the times: every feed polled once
per pass however many processes share the state, every post sent once. The numbers live in
BENCHMARKS.md, measured by the full `python bench/run.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.postgres import why_unavailable

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


@pytest.mark.skipif(why_unavailable() is not None, reason=str(why_unavailable()))
def test_quick_workers_workloads_poll_each_feed_once_and_post_each_entry_once(tmp_path):
    report = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--workloads", "workers", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    *passes, posts = json.loads(report.read_text())["results"]

    assert [m["tool"] for m in passes] == [
        "crossposter, sqlite, 1 process",
        "crossposter, postgres, 1 process",
        "crossposter, postgres, 2 processes",
        "crossposter, postgres, 4 processes",
    ]
    for measure in passes:
        assert set(measure["exit_codes"]) == {0}
        assert measure["checks"]["fetches"] == {"1": 200}  # every feed, once
        assert measure["feed_requests"] == {"requests": 200, "conditional": 200, "304": 200}
        assert measure["mastodon_requests"] == {}
    assert [len(m["exit_codes"]) for m in passes] == [1, 1, 2, 4]

    assert posts["exit_codes"] == [0, 0]
    checks = posts["checks"]
    assert checks["posted once"] == checks["posts expected"] == 100
    assert checks["posted twice or more"] == checks["never posted"] == checks["other links"] == 0
    assert checks["accounts posting"] == 10
    assert checks["429 answers"] == 0


def test_the_publish_to_toot_latency_benchmark_runs(tmp_path):
    # Each publish is a toot, or the script fails; the times are BENCHMARKS.md's.
    report = tmp_path / "latency.json"
    latency = Path(__file__).resolve().parents[1] / "bench" / "latency.py"
    done = subprocess.run(
        [sys.executable, str(latency), "--quick", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(report.read_text())["results"]
    assert sorted(results) == ["bearer", "ghost", "websub"]
    assert all(len(result["latencies_s"]) == 3 for result in results.values())
