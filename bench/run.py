"""crossposter's benchmark, side by side with feed2toot 0.17 and feediverse 0.4.1.

    .venv/bin/python bench/run.py            # everything (about 10 minutes, see BENCHMARKS.md)
    .venv/bin/python bench/run.py --quick    # a smoke run: crossposter only, fewer repetitions

The anchors are installed from PyPI into bench/.venv on the first run. The feed
server and the Mastodon API run as separate processes on loopback; each tool
run is a whole process, timed from spawn to exit, its peak RSS read from
wait4(), and the requests it made read from the servers' counters. The `loop`
workload is the exception: passes of `run --loop`, timed inside one process
(bench/loop_pass.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

from feed_server import address
from tools import PROJECT_PYTHON, Crossposter, Feed2toot, Feediverse, Measure, Tool, Workload
from tools import seen_until as seen_until_date
from workers import run_workers

BENCH = Path(__file__).resolve().parent
ANCHOR_VENV = BENCH / ".venv"
ANCHORS = ("feed2toot==0.17", "feediverse==0.4.1")
DELAY = 0.05
STEADY_50 = "steady 50 feeds @50ms"
STEADY_1000 = "steady 1000 feeds @50ms"
LOOP_PASS = "steady 50 feeds @50ms: a run --loop pass"
NEW_POSTS = "100 new posts, 50 feeds @50ms"


class Servers:
    def __init__(self, hosts: int):
        self._procs = []
        self.feed_port = self._start([str(BENCH / "feed_server.py"), "--hosts", str(hosts)])
        self.feed_pid = self._procs[0].pid
        self.api_port = self._start([str(BENCH / "mastodon_server.py")])
        self.instance = f"http://127.0.0.1:{self.api_port}"

    def _start(self, argv: list[str]) -> int:
        proc = subprocess.Popen(
            [str(PROJECT_PYTHON), *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._procs.append(proc)
        return int(proc.stdout.readline())

    def feeds(self, action: str, **params) -> dict[str, int]:
        query = "&".join(f"{key}={value}" for key, value in params.items())
        url = f"http://127.0.0.1:{self.feed_port}/_bench/{action}?{query}"
        with urllib.request.urlopen(url, timeout=60) as response:
            return json.load(response)

    def api(self, action: str) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.instance}/_bench/{action}", timeout=60) as response:
            return json.load(response)

    def feed_urls(self, count: int) -> list[str]:
        return [f"http://{address(i)}:{self.feed_port}/feed/{i}.xml" for i in range(count)]

    def close(self) -> None:
        for proc in self._procs:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS (MB), exit code and CPU seconds of one whole process."""
    log = open(cwd / "last-run.log", "wb")  # noqa: SIM115 - closed below, after wait4
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    return wall, usage.ru_maxrss / 1024, proc.returncode, usage.ru_utime + usage.ru_stime


class Bench:
    def __init__(self, args: argparse.Namespace, servers: Servers, workroot: Path):
        self.args = args
        self.servers = servers
        self.workroot = workroot
        self.results: list[Measure] = []
        self.anchor_bin = ANCHOR_VENV / "bin" if args.anchors else None

    def tools(self, workload: str, anchors: bool = True) -> list[Tool]:
        classes = [Crossposter]
        if anchors and self.anchor_bin:
            classes += [Feed2toot, Feediverse]
        made = []
        for cls in classes:
            workdir = self.workroot / workload / cls.name
            workdir.mkdir(parents=True, exist_ok=True)
            made.append(cls(workdir, self.anchor_bin))
        return made

    def measure(
        self, workload: str, tool: Tool, reps: int, before=None, first: bool = False
    ) -> Measure:
        result = Measure(workload, tool.name)
        command = tool.first_run_command() if first else tool.command()
        for _ in range(reps):
            if before:
                before()
            self.servers.feeds("clear")
            self.servers.api("clear")
            result.load = max(result.load, os.getloadavg()[0])
            wall, rss, code, cpu = timed(command, tool.env(), tool.workdir)
            result.runs.append(wall)
            result.cpu_runs.append(cpu)
            result.rss_mb = max(result.rss_mb, rss)
            result.exit_codes.append(code)
            result.feed_requests = self.servers.feeds("stats")
            result.mastodon_requests = self.servers.api("stats")
        self.results.append(result)
        print(
            f"  {workload:<28} {tool.name:<12} {result.median:8.3f} s "
            f"(CPU {result.median_cpu:.3f} s) {result.rss_mb:6.1f} MB  "
            f"feeds {result.feed_requests} mastodon {result.mastodon_requests} "
            f"exit {result.exit_codes}",
            flush=True,
        )
        return result

    def populate(self, tool: Tool, workload: Workload) -> None:
        tool.configure(workload)
        tool.forget()
        command = tool.populate_command()
        if command:
            _, _, code, _ = timed(command, tool.env(), tool.workdir)
            if code not in (0,):
                print(f"  ({tool.name} populate run exited {code})", flush=True)
        tool.snapshot()

    # -- workloads -------------------------------------------------------------

    def steady(self, feeds: int, delay: float, reps: int, anchor_reps: int) -> None:
        name = f"steady {feeds} feeds @{delay * 1000:.0f}ms"
        self.servers.feeds("setup", feeds=feeds, entries=10, new=0, rev=0, delay=0, big=0)
        workload = Workload(self.servers.feed_urls(feeds), seen_until_date(10), self.instance)
        tools = self.tools(f"steady-{feeds}", anchors=anchor_reps > 0)
        for tool in tools:
            self.populate(tool, workload)
        self.servers.feeds("setup", delay=delay)
        for tool in tools:
            count = reps if tool.name == Crossposter.name else anchor_reps
            self.measure(name, tool, count, before=tool.restore)

    def loop_passes(self, feeds: int, delay: float, passes: int) -> None:
        """The steady state as `run --loop` meets it: passes in one process that stays up.

        Reported next to `steady` (a cold process a run): the median of the passes
        after the first, which carries the imports done on the first fetch.
        """
        name = f"steady {feeds} feeds @{delay * 1000:.0f}ms: a run --loop pass"
        self.servers.feeds("setup", feeds=feeds, entries=10, new=0, rev=0, delay=0, big=0)
        workload = Workload(self.servers.feed_urls(feeds), seen_until_date(10), self.instance)
        (tool,) = self.tools(f"loop-{feeds}", anchors=False)
        self.populate(tool, workload)
        self.servers.feeds("setup", delay=delay)
        tool.restore()
        self.servers.feeds("clear")
        self.servers.api("clear")
        result = Measure(name, tool.name, load=os.getloadavg()[0])
        config = str(tool.workdir / "crossposter.yaml")
        command = [str(PROJECT_PYTHON), str(BENCH / "loop_pass.py"), config, str(passes + 1)]
        wall, result.rss_mb, code, _ = timed(command, tool.env(), tool.workdir)
        result.exit_codes.append(code)
        if code == 0:
            lines = (tool.workdir / "last-run.log").read_text().splitlines()
            first, *rest = json.loads(next(line for line in lines if line.startswith("[")))
            cpu = next((line for line in lines if line.startswith("cpu ")), "cpu []")
            result.runs = rest
            result.cpu_runs = json.loads(cpu[4:])[1:]
            result.note = (
                f"{passes + 1} passes in one process ({wall:.2f} s in all); "
                f"first pass {first:.3f} s; requests per pass"
            )
        # Per pass, to compare with a cold run's counts.
        result.feed_requests = {
            key: count // (passes + 1) for key, count in self.servers.feeds("stats").items()
        }
        result.mastodon_requests = self.servers.api("stats")
        self.results.append(result)
        print(
            f"  {name:<28} {result.median:8.3f} s (CPU {result.median_cpu:.3f} s) "
            f"{result.rss_mb:6.1f} MB  "
            f"feeds/pass {result.feed_requests} exit {result.exit_codes}",
            flush=True,
        )

    def new_posts(self, reps: int, language: bool = True) -> None:
        """100 toots to compose and post. The feeds declare their language; without it
        (`language=False`, crossposter alone) each toot's language is detected, which
        loads the language model: its cost, apart."""
        name = NEW_POSTS if language else f"{NEW_POSTS}, no language declared"
        lang = int(language)
        self.servers.feeds("setup", feeds=50, entries=10, new=0, rev=0, delay=0, big=0, lang=lang)
        workload = Workload(self.servers.feed_urls(50), seen_until_date(10), self.instance)
        tools = self.tools("new-posts" if language else "new-posts-detected", anchors=language)
        for tool in tools:
            self.populate(tool, workload)

        for tool in tools:

            def before(tool=tool):
                tool.restore()
                self.servers.feeds("setup", new=2, delay=DELAY)

            self.measure(name, tool, reps, before=before)
            self.servers.feeds("setup", new=0, delay=0)
        self.servers.feeds("setup", lang=1)

    def big_feed(self, entries: int, reps: int) -> None:
        self.servers.feeds("setup", feeds=0, big=entries, rev=0, delay=0)
        url = f"http://127.0.0.1:{self.servers.feed_port}/big.xml"
        workload = Workload([url], seen_until_date(entries), self.instance)
        size = len(urllib.request.urlopen(url).read())
        label = f"{size / 1e6:.1f} MB feed, {entries} entries"
        for tool in self.tools("big"):
            tool.configure(workload)
            self.measure(f"{label}: first run", tool, reps, before=tool.forget, first=True)
            tool.snapshot()
            self.measure(f"{label}: unchanged", tool, reps, before=tool.restore)
        self.feedparser_baseline(url, label, reps)

    def feedparser_baseline(self, url: str, label: str, reps: int) -> None:
        """feedparser alone on the same bytes: its parse time, and a whole process doing it."""
        script = (
            "import sys, time, urllib.request, feedparser\n"
            f"data = urllib.request.urlopen({url!r}).read()\n"
            "start = time.perf_counter()\n"
            "feedparser.parse(data, sanitize_html=True)\n"
            "print(time.perf_counter() - start)\n"
        )
        workdir = self.workroot / "big" / "feedparser"
        workdir.mkdir(parents=True, exist_ok=True)
        parse_times = []
        result = Measure(f"{label}: first run", "feedparser")
        for _ in range(reps):
            result.load = max(result.load, os.getloadavg()[0])
            wall, rss, code, cpu = timed(
                [str(PROJECT_PYTHON), "-c", script], dict(os.environ), workdir
            )
            result.cpu_runs.append(cpu)
            parse_times.append(float((workdir / "last-run.log").read_text().split()[-1]))
            result.runs.append(wall)
            result.rss_mb = max(result.rss_mb, rss)
            result.exit_codes.append(code)
        result.note = f"feedparser.parse() alone: {statistics.median(parse_times):.3f} s"
        self.results.append(result)
        print(
            f"  feedparser alone: process {result.median:.3f} s, "
            f"{result.note}, {result.rss_mb:.1f} MB",
            flush=True,
        )

    def state_size(self, feeds: int, entries: int, reps: int) -> None:
        label = f"{feeds} feeds x {entries} entries"
        self.servers.feeds("setup", feeds=feeds, entries=entries, new=0, rev=0, delay=0, big=0)
        workload = Workload(self.servers.feed_urls(feeds), seen_until_date(entries), self.instance)
        (tool,) = self.tools(f"state-{feeds}x{entries}", anchors=False)
        tool.configure(workload)
        first = self.measure(f"{label}: first run", tool, 1, before=tool.forget, first=True)
        first.note = f"state file {tool.state_bytes() / 1e6:.1f} MB"
        print(f"  state after {label}: {first.note}", flush=True)
        tool.snapshot()
        self.measure(f"{label}: unchanged", tool, reps, before=tool.restore)
        self.servers.feeds("setup", rev=1)
        self.measure(f"{label}: all changed, none new", tool, reps, before=tool.restore)

    @property
    def instance(self) -> str:
        return self.servers.instance


def ensure_anchors() -> str | None:
    """Install the anchors into bench/.venv; the reason they cannot run, or None."""
    if all((ANCHOR_VENV / "bin" / name).exists() for name in ("feed2toot", "feediverse")):
        return None
    print("installing feed2toot 0.17 and feediverse 0.4.1 into bench/.venv ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(ANCHOR_VENV)], check=True)
        subprocess.run(
            [str(ANCHOR_VENV / "bin" / "pip"), "install", "-q", *ANCHORS],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as error:
        return f"installing {' '.join(ANCHORS)} failed: {(error.stderr or '')[-500:]}"
    return None


def compile_bytecode() -> None:
    """Compile crossposter's modules once, as pip does when it installs a package: from an
    editable checkout, with PYTHONDONTWRITEBYTECODE set (as on the machines of BENCHMARKS.md),
    every run would otherwise compile some 80 modules again (~0.05-0.08 s of CPU), which no
    installed copy does, and the anchors, installed by pip, never pay."""
    package = BENCH.parent / "crossposter"
    subprocess.run([str(PROJECT_PYTHON), "-m", "compileall", "-q", str(package)], check=True)


def machine() -> dict[str, str]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(
        [str(PROJECT_PYTHON), "-V"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": version,
        "kernel": platform.release(),
    }


def report(results: list[Measure]) -> str:
    by_key = {(m.workload, m.tool): m for m in results}
    lines = [
        "| workload | tool | median wall (s) | median CPU (s) | runs | peak RSS (MB) "
        "| feed requests | Mastodon requests | × crossposter | load | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in results:
        ours = by_key.get((m.workload, Crossposter.name))
        ratio = f"{m.median / ours.median:.1f}×" if ours and m is not ours else ""
        feeds = ", ".join(f"{k} {v}" for k, v in sorted(m.feed_requests.items())) or "-"
        api = ", ".join(f"{k} {v}" for k, v in sorted(m.mastodon_requests.items())) or "0"
        cpu = f"{m.median_cpu:.3f}" if m.cpu_runs else "-"
        lines.append(
            f"| {m.workload} | {m.tool} | {m.median:.3f} | {cpu} | {len(m.runs)} "
            f"| {m.rss_mb:.0f} "
            f"| {feeds} | {api} | {ratio} | {m.load:.1f} | {m.note} |"
        )
    return "\n".join(lines)


def targets(results: list[Measure]) -> str:
    """Issue 17's goals, each judged on the measures of this one invocation (those it ran)."""
    ours = {m.workload: m for m in results if m.tool == Crossposter.name}
    rows = []
    steady = ours.get(STEADY_50)
    if steady:
        anchors = [m for m in results if m.workload == STEADY_50 and m is not steady]
        ratios = {m.tool: m.median / steady.median for m in anchors}
        shown = ", ".join(f"{ratio:.1f}× {tool}" for tool, ratio in ratios.items())
        met = bool(ratios) and min(ratios.values()) >= 7
        rows.append(
            (
                "cold run, 50 unchanged feeds @50 ms: ≥ 7× faster than both anchors",
                f"{steady.median:.3f} s (CPU {steady.median_cpu:.3f} s); "
                f"{shown or 'anchors not run'}",
                met,
            )
        )
    for workload, limit, goal in (
        (STEADY_1000, 1.2, "1,000 unchanged feeds @50 ms: ≤ 1.2 s"),
        (LOOP_PASS, 0.15, "a `run --loop` pass over 50 unchanged feeds @50 ms: ≤ 0.15 s"),
    ):
        if workload in ours:
            measure = ours[workload]
            measured = f"{measure.median:.3f} s (CPU {measure.median_cpu:.3f} s)"
            rows.append((goal, measured, measure.median <= limit))
    new = ours.get(NEW_POSTS)
    if new:
        requests = sum(new.mastodon_requests.values())
        rows.append(
            (
                "100 new posts @50 ms, language declared: ≤ 1.5 s, ≤ 101 Mastodon requests",
                f"{new.median:.3f} s (CPU {new.median_cpu:.3f} s), {requests} requests, "
                f"peak RSS {new.rss_mb:.0f} MB",
                new.median <= 1.5 and requests <= 101,
            )
        )
    if not rows:
        return ""
    lines = ["| target | measured | met? |", "| --- | --- | --- |"]
    for goal, measured, met in rows:
        lines.append(f"| {goal} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small, crossposter only")
    parser.add_argument("--no-anchors", dest="anchors", action="store_false")
    parser.add_argument(
        "--workloads",
        default="steady,loop,new,big,state,workers",
        help="comma-separated subset of steady,loop,new,big,state,workers",
    )
    parser.add_argument("--reps", type=int, default=5, help="measured runs per crossposter case")
    parser.add_argument("--anchor-reps", type=int, default=3, help="measured runs per anchor case")
    parser.add_argument("--json", type=Path, help="also write the measures here")
    args = parser.parse_args()
    if args.quick:
        args.anchors = False
        args.reps = 1
    wanted = set(args.workloads.split(","))

    skipped_anchors = None
    if not wanted & {"steady", "new", "big"}:
        args.anchors = False  # the other workloads run crossposter alone
    if args.anchors:
        skipped_anchors = ensure_anchors()
        if skipped_anchors:
            print(f"anchors not run: {skipped_anchors}", flush=True)
            args.anchors = False

    info = machine()
    print(f"machine: {info}", flush=True)
    feeds_max = 50 if args.quick else 1000
    workers_skipped = None
    if "workers" in wanted:
        sys.path.insert(0, str(BENCH.parent / "tests"))
        from support.postgres import why_unavailable

        workers_skipped = why_unavailable()
        if workers_skipped:
            print(f"workers workloads not run: {workers_skipped}", flush=True)
            wanted.discard("workers")
        else:
            # One loopback address per feed, as everywhere in this benchmark.
            feeds_max = 500 if args.quick else 10_000
    compile_bytecode()
    servers = Servers(hosts=feeds_max)
    workroot = Path(tempfile.mkdtemp(prefix="crossposter-bench-"))
    bench = Bench(args, servers, workroot)
    anchor_reps = args.anchor_reps if args.anchors else 0
    try:
        if "steady" in wanted:
            bench.steady(50, 0.0, args.reps, anchor_reps)
            if not args.quick:
                bench.steady(50, DELAY, args.reps, anchor_reps)
                bench.steady(1000, 0.0, args.reps, 0)
                # Each anchor needs over a minute here: one run is enough to see the ratio.
                bench.steady(1000, DELAY, args.reps, min(anchor_reps, 1))
        if "loop" in wanted:
            bench.loop_passes(50, 0.0 if args.quick else DELAY, args.reps)
        if "new" in wanted:
            bench.new_posts(args.reps if not args.quick else 1)
            if not args.quick:
                bench.new_posts(args.reps, language=False)
        if "big" in wanted:
            bench.big_feed(500 if args.quick else 5000, args.reps)
        if "state" in wanted:
            if args.quick:
                bench.state_size(50, 100, 1)
            else:
                # A run that parses 100,000 entries takes half a minute: three are enough.
                bench.state_size(1000, 10, min(args.reps, 3))
                bench.state_size(1000, 100, min(args.reps, 3))
        if "workers" in wanted:
            run_workers(servers, workroot, bench.results, args.quick)
    finally:
        servers.close()
        shutil.rmtree(workroot, ignore_errors=True)

    print()
    print(report(bench.results))
    goals = targets(bench.results)
    if goals:
        print()
        print(goals)
    if args.json:
        payload = {
            "machine": info,
            "anchors_skipped": skipped_anchors,
            "workers_skipped": workers_skipped,
            "results": [
                {**asdict(m), "median": m.median, "median_cpu": m.median_cpu} for m in bench.results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2))
    failed = [m for m in bench.results if m.tool == Crossposter.name and any(m.exit_codes)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
