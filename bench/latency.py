"""Publish-to-toot latency of `run --loop --listen`, on loopback.

    .venv/bin/python bench/latency.py            # 20 publishes each way (about 3 minutes)
    .venv/bin/python bench/latency.py --quick    # 3 publishes each way, a smoke run
    .venv/bin/python bench/latency.py --json bench/latency.json

A blog publishes: its feed changes on the loopback feed server, and at once it calls
crossposter's webhook, as a deploy job does (a bearer token) or as Ghost does (a signed
`X-Ghost-Signature`), or its WebSub hub pushes the feed (crossposter subscribed to it
after its first pass). The latency is from the moment the feed changed to the moment the
loopback Mastodon API accepted the toot. crossposter is a process of its own,
`run --loop --interval 15m --listen 127.0.0.1:0`, started before and left running: its
loop would find the article on its own only at its next pass, 7.5 minutes later on
average. The blog, its hub and the instance are threads of this process.

Publishes go round-robin over FEEDS feeds, GAP seconds apart, so no feed is asked
twice within the 10 s that space polls on request: each publish is measured alone.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.blog import write_config
from support.feed_server import FeedServer
from support.loop_process import LoopProcess
from support.mastodon_api import MastodonAPI
from support.publishing_blog import PublishingBlog, call_as_ghost, call_with_bearer
from support.websub_hub import WebSubHub

INTERVAL = "15m"
FEEDS = 4
GAP = 3.0
SECRET = "bench-webhook-secret"
# A deploy job's bearer call, Ghost's signed webhook, a WebSub hub's push.
WAYS = ("bearer", "ghost", "websub")


class TimedMastodonAPI(MastodonAPI):
    """The tests' fake instance, noting when it accepted each toot."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[float] = []
        self.toot_accepted = threading.Condition()

    def dispatch(self, handler) -> None:
        super().dispatch(handler)
        if handler.command == "POST" and handler.path.startswith("/api/v1/statuses"):
            with self.toot_accepted:
                self.accepted.append(time.monotonic())
                self.toot_accepted.notify_all()

    def wait_for_toot(self, count: int, bound: float = 60.0) -> float:
        with self.toot_accepted:
            if not self.toot_accepted.wait_for(lambda: len(self.accepted) >= count, bound):
                raise RuntimeError(f"toot {count} was not posted within {bound} s")
            return self.accepted[count - 1]


def measure(way: str, publishes: int, folder: Path, gap: float = GAP) -> list[float]:
    """The publish-to-toot latencies of `publishes` publishes, the blog telling it `way`."""
    with TimedMastodonAPI() as api, FeedServer(gzip=False) as feeds, WebSubHub() as hub:
        blogs = [
            PublishingBlog(feeds, f"/blog{i}", hub=hub if way == "websub" else None)
            for i in range(FEEDS)
        ]
        listed = "\n".join(
            f"- {{name: blog{i}, url: '{feeds.url(f'/blog{i}')}'}}" for i in range(FEEDS)
        )
        (folder / "secret").write_text(SECRET)
        port = free_port()
        config = write_config(
            folder,
            api,
            listed,
            webhook_secret_file="secret",
            websub_callback=f"'http://127.0.0.1:{port}/'" if way == "websub" else None,
        )
        env = {"CROSSPOSTER_ACCESS_TOKEN": "test-token"}
        latencies = []
        listen = ("--interval", INTERVAL, "--listen", f"127.0.0.1:{port}")
        with LoopProcess(config, *listen, env=env) as loop:
            loop.wait_for("pass done")
            if way == "websub":
                hub.wait_verified(FEEDS)
            for n in range(publishes):
                blog = blogs[n % FEEDS]
                started = time.monotonic()
                blog.publish(100 + n)
                answers = _tell(way, blog, loop, n)
                if answers != [202]:
                    raise RuntimeError(f"the crossposter answered {answers}")
                latencies.append(api.wait_for_toot(n + 1) - started)
                time.sleep(max(0.0, gap - (time.monotonic() - started)))
            loop.terminate()
        if len(api.statuses) != publishes:
            raise RuntimeError(f"{len(api.statuses)} toots for {publishes} publishes")
    return latencies


def _tell(way: str, blog: PublishingBlog, loop: LoopProcess, n: int) -> list[int]:
    """The blog says it published: its webhook call, or its hub's push."""
    if way == "websub":
        return blog.push()
    url = loop.url(f"/feeds/{blog.path.lstrip('/')}/poll")
    if way == "ghost":
        # Ghost's payload names the article it announces.
        return [call_as_ghost(url, SECRET, 100 + n).status_code]
    return [call_with_bearer(url, SECRET).status_code]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 publishes each way, to as many feeds"
    )
    parser.add_argument("--json", type=Path, help="also write the measures here")
    args = parser.parse_args()
    publishes = 3 if args.quick else 20
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for way in WAYS:
            folder = Path(scratch) / way
            folder.mkdir()
            # Quick: each publish goes to a feed of its own, so none need wait.
            latencies = measure(way, publishes, folder, gap=0.0 if args.quick else GAP)
            results[way] = {
                "publishes": publishes,
                "median_s": statistics.median(latencies),
                "worst_s": max(latencies),
                "latencies_s": latencies,
            }
    print(f"publish-to-toot latency, loop interval {INTERVAL}, {os.cpu_count()} cores")
    print(f"{'told by':<8} {'publishes':>9} {'median':>8} {'worst':>8}")
    for way, result in results.items():
        print(
            f"{way:<8} {result['publishes']:>9} {result['median_s']:>7.2f}s"
            f" {result['worst_s']:>7.2f}s"
        )
    if args.json:
        args.json.write_text(json.dumps({"interval": INTERVAL, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
