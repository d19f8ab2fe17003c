"""The `workers` workloads: one state, SQLite or PostgreSQL, shared by several processes.

Each process is bench/loop_pass.py making one pass of `run --loop` (crossposter.pipeline.run
with a poll interval: only the feeds due, a feed another process leased left to it).
The N processes of a case start together on one database; the case's wall time runs
from their spawn to the last one's exit, i.e. until every feed was polled once. Every
answer, from the feeds and from Mastodon, waits on the "network" (a delay in the
servers): on two cores the servers, PostgreSQL and the workers share the CPU, so CPU
time is measured beside wall time: the workers' from wait4(), PostgreSQL's and the
feed server's from /proc.

  steady: N feeds seen once (the first pass, not timed), then one pass where each
          answers 304; SQLite with one process, PostgreSQL with 1, 2 and 4.
  posts:  feeds on as many accounts, each with K new entries, two processes: every
          post sent once, no account over its rate limit (the fake API answers 429).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from mastodon_server import TOKEN, account_token
from tools import PROJECT_PYTHON, Measure

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

# Mastodon's own limits (docs in /work/shared/MASTODON-RULES.md §3): 300 requests per
# 5 minutes per token, 300 statuses per 3 hours per account.
MASTODON_REQUEST_LIMIT = 300
MASTODON_STATUS_LIMIT = 300
# After the first pass every feed must be due again for the measured one.
FIRST_PASS_INTERVAL = 0.001
MEASURED_PASS_INTERVAL = 3600
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of_tree(pid: int) -> float:
    """CPU seconds of `pid`, its live children and the children it has reaped (PostgreSQL's
    backends are reaped by the postmaster, so their time is in its cutime/cstime)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3); ppid is field 4, utime..cstime fields 14-17.
        if int(entry.name) == pid:
            total += sum(int(value) for value in fields[11:15])
        elif int(fields[1]) == pid:
            total += sum(int(value) for value in fields[11:13])
    return total / TICK


class Cluster:
    """A throw-away PostgreSQL server (tests/support/postgres.py), its databases and CPU."""

    def __init__(self, stack: ExitStack):
        from support.postgres import running_postgres

        self.server = stack.enter_context(running_postgres())

    def database(self, template: str | None = None) -> tuple[str, str]:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.server.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{copy}')
        return name, self.server.url(name)

    def cpu(self) -> float:
        pid = int((self.server.folder / "data" / "postmaster.pid").read_text().split()[0])
        return cpu_of_tree(pid)


class Workers:
    def __init__(self, servers, workroot: Path, results: list[Measure]):
        self.servers = servers
        self.workroot = workroot
        self.results = results
        self.feed_server_pid = servers.feed_pid
        self.cluster: Cluster | None = None

    # -- configuration ---------------------------------------------------------

    def config(self, name: str, feeds: int, state: str, accounts: int = 0) -> Path:
        folder = self.workroot / "workers" / name
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"instance: {self.servers.instance}", state]
        if accounts:
            # All new entries of a feed in one pass (the default holds back all but 3).
            lines += ["defaults:", "  max_posts_per_run: 100", "accounts:"]
            for index in range(accounts):
                lines += [
                    f"  a{index:03d}:",
                    f"    instance: {self.servers.instance}",
                    f"    access_token_env: BENCH_TOKEN_{index}",
                ]
        lines.append("feeds:")
        for index, url in enumerate(self.servers.feed_urls(feeds)):
            lines += [f"  - name: f{index:05d}", f"    url: {url}"]
            if accounts:
                lines.append(f"    account: a{index % accounts:03d}")
        path = folder / "crossposter.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def env(self, folder: Path, accounts: int) -> dict[str, str]:
        tokens = {f"BENCH_TOKEN_{index}": account_token(index) for index in range(accounts)}
        return {**os.environ, "HOME": str(folder), "CROSSPOSTER_ACCESS_TOKEN": TOKEN, **tokens}

    # -- running ---------------------------------------------------------------

    def passes(self, config: Path, processes: int, interval: float, accounts: int = 0) -> dict:
        """`processes` processes making one pass each on `config`'s state, together."""
        folder = config.parent
        env = self.env(folder, accounts)
        command = [str(PROJECT_PYTHON), str(BENCH / "loop_pass.py"), str(config), "1"]
        pg_before = self.cluster.cpu() if self.cluster else 0.0
        feeds_before = cpu_of_tree(self.feed_server_pid)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        running = {}
        for index in range(processes):
            out = open(folder / f"worker-{index}.out", "wb")  # noqa: SIM115 - closed after wait
            err = open(folder / f"worker-{index}.err", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                [*command, str(interval)], env=env, cwd=folder, stdout=out, stderr=err
            )
            running[proc.pid] = (index, out, err)
        codes, cpu, rss, pass_times = [], 0.0, 0.0, []
        while running:
            pid, status, usage = os.wait4(-1, 0)
            if pid not in running:
                continue
            index, out, err = running.pop(pid)
            out.close()
            err.close()
            codes.append(os.waitstatus_to_exitcode(status))
            cpu += usage.ru_utime + usage.ru_stime
            rss = max(rss, usage.ru_maxrss / 1024)
            text = (folder / f"worker-{index}.out").read_text().strip()
            pass_times += json.loads(text) if text.startswith("[") else []
        wall = time.perf_counter() - start
        return {
            "wall": wall,
            "codes": codes,
            "rss": rss,
            "load": load,
            "pass_times": pass_times,
            "cpu": {
                "workers": round(cpu, 2),
                "postgres": round(self.cluster.cpu() - pg_before, 2) if self.cluster else 0.0,
                "feed server": round(cpu_of_tree(self.feed_server_pid) - feeds_before, 2),
            },
        }

    def record(self, name: str, tool: str, done: dict, checks: dict) -> Measure:
        result = Measure(name, tool, runs=[done["wall"]], rss_mb=done["rss"], load=done["load"])
        result.exit_codes = done["codes"]
        result.cpu = done["cpu"]
        result.checks = checks
        result.feed_requests = self.servers.feeds("stats")
        result.mastodon_requests = self.servers.api("stats")
        passes = ", ".join(f"{t:.2f}" for t in sorted(done["pass_times"]))
        cpu = ", ".join(f"{k} {v:.1f} s" for k, v in done["cpu"].items())
        result.note = f"CPU: {cpu}; pass per process (s): {passes}"
        self.results.append(result)
        print(
            f"  {name:<44} {tool:<24} {done['wall']:8.2f} s  {result.note}  "
            f"checks {checks} exit {result.exit_codes} load {result.load:.1f}",
            flush=True,
        )
        return result

    # -- workloads ---------------------------------------------------------------

    def steady(self, feeds: int, delay: float, processes: list[int]) -> None:
        """`feeds` feeds answering 304: one pass on SQLite, then PostgreSQL with each N."""
        self.servers.feeds("setup", feeds=feeds, entries=10, new=0, rev=0, delay=0, big=0)
        name = f"{feeds} feeds, nothing new @{delay * 1000:.0f}ms"
        sqlite = self.config("sqlite", feeds, "state_file: state.sqlite3")
        pg_template, pg_url = self.cluster.database()
        postgres = self.config("postgres-template", feeds, f"state_url: '{pg_url}'")
        for config in (sqlite, postgres):
            first = self.passes(config, 1, FIRST_PASS_INTERVAL)
            print(f"  first pass ({config.parent.name}): {first['wall']:.1f} s", flush=True)
            assert first["codes"] == [0], f"first pass failed: see {config.parent}"
        time.sleep(FIRST_PASS_INTERVAL + 0.1)
        cases = [("sqlite, 1 process", sqlite, 1)]
        for count in processes:
            _, url = self.cluster.database(template=pg_template)
            config = self.config(f"postgres-{count}", feeds, f"state_url: '{url}'")
            plural = "process" if count == 1 else "processes"
            cases.append((f"postgres, {count} {plural}", config, count))
        self.servers.feeds("setup", delay=delay)
        for tool, config, count in cases:
            self.servers.feeds("clear")
            self.servers.api("clear")
            done = self.passes(config, count, MEASURED_PASS_INTERVAL)
            fetches = self.servers.feeds("fetches")
            self.record(name, f"crossposter, {tool}", done, {"fetches": fetches})
        self.servers.feeds("setup", delay=0)

    def posts(self, feeds: int, new: int, delay: float, processes: int) -> None:
        """`feeds` feeds, one account each, `new` new entries each, on PostgreSQL."""
        self.servers.feeds("setup", feeds=feeds, entries=10, new=0, rev=0, delay=0, big=0)
        self.servers.api("clear")
        self.servers.api(
            f"setup?tokens={feeds}&request_limit={MASTODON_REQUEST_LIMIT}"
            f"&status_limit={MASTODON_STATUS_LIMIT}&delay=0"
        )
        _, url = self.cluster.database()
        config = self.config("posts", feeds, f"state_url: '{url}'", accounts=feeds)
        first = self.passes(config, 1, FIRST_PASS_INTERVAL, accounts=feeds)
        assert first["codes"] == [0], f"first pass failed: see {config.parent}"
        time.sleep(FIRST_PASS_INTERVAL + 0.1)
        self.servers.feeds("setup", new=new, delay=delay)
        self.servers.api(f"setup?delay={delay}")
        self.servers.feeds("clear")
        self.servers.api("clear")
        done = self.passes(config, processes, MEASURED_PASS_INTERVAL, accounts=feeds)
        accounts = self.servers.api("accounts")
        links = Counter(link for account in accounts.values() for link in account["links"])
        expected = {
            f"https://blog{i}.example/posts/{j}" for i in range(feeds) for j in range(10, 10 + new)
        }
        checks = {
            "posts expected": len(expected),
            "posted once": sum(1 for link in expected if links[link] == 1),
            "posted twice or more": sum(1 for link in expected if links[link] > 1),
            "never posted": sum(1 for link in expected if links[link] == 0),
            "other links": sum(1 for link in links if link not in expected),
            "accounts posting": sum(1 for a in accounts.values() if a["statuses"]),
            "most statuses by one account": max(a["statuses"] for a in accounts.values()),
            "most requests by one token": max(a["requests"] for a in accounts.values()),
            "429 answers": sum(a["429"] for a in accounts.values()),
            "limits": f"{MASTODON_REQUEST_LIMIT} requests/5 min per token, "
            f"{MASTODON_STATUS_LIMIT} statuses/3 h per account",
        }
        name = f"{feeds * new} new posts, {feeds} feeds on {feeds} accounts @{delay * 1000:.0f}ms"
        self.record(name, f"crossposter, postgres, {processes} processes", done, checks)
        self.servers.feeds("setup", new=0, delay=0)
        self.servers.api(f"setup?request_limit={10**9}&status_limit={10**9}&delay=0")


def run_workers(servers, workroot: Path, results: list[Measure], quick: bool) -> None:
    """Both workloads; small with `quick` (a smoke run: counts, not times)."""
    workers = Workers(servers, workroot, results)
    with ExitStack() as stack:
        workers.cluster = Cluster(stack)
        if quick:
            workers.steady(200, 0.02, [1, 2, 4])
            workers.posts(10, 10, 0.02, 2)
        else:
            workers.steady(10_000, 0.2, [1, 2, 4])
            workers.posts(100, 10, 0.2, 2)
