"""Passes of `crossposter run --loop`, timed inside the one process that makes them.

    python bench/loop_pass.py CONFIG PASSES [POLL_INTERVAL]

`run --loop` calls crossposter.pipeline.run once per pass in a process that stays
up: the imports and the configuration are paid once, not per pass. This makes
PASSES passes back to back (no interval) and prints each one's wall time, in
seconds, as a JSON list (and on stderr, after `cpu `, each one's CPU time); the
first pass carries the imports done lazily on the first fetch, the following
ones are what a container pays every --interval.
With POLL_INTERVAL (seconds), each pass is `run --loop`'s own: only the feeds due
are polled, each due again that long after, and a feed another process leased is
left to it (bench/workers.py starts several of these on one database).
"""

from __future__ import annotations

import json
import sys
import time

from crossposter.config import load_settings
from crossposter.pipeline import run


def main() -> int:
    config, passes = sys.argv[1], int(sys.argv[2])
    poll_interval = float(sys.argv[3]) if len(sys.argv) > 3 else None
    settings = load_settings(config)
    times, cpu = [], []
    for _ in range(passes):
        start, start_cpu = time.perf_counter(), time.process_time()
        report = run(settings, poll_interval=poll_interval)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if report.exit_code:
            print(json.dumps({"exit_code": report.exit_code}), file=sys.stderr)
            return report.exit_code
    print(json.dumps(times))
    # CPU seconds of each pass (every thread of the process), for a loaded machine.
    print("cpu", json.dumps(cpu), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
