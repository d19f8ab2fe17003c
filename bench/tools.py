"""The three tools under test, each configured as its own documentation says.

Each adapter writes its configuration into a work folder, knows how to make its
"already seen everything" starting point, and how to put that starting point
back before a measured run, so that every repetition does the same work.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from feed_server import newest_base_date
from mastodon_server import TOKEN

ROOT = Path(__file__).resolve().parent.parent
# The project's own virtualenv when there is one (README, .ci/run), else whichever
# Python runs the benchmark, with crossposter installed in it.
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
if not PROJECT_PYTHON.exists():
    PROJECT_PYTHON = Path(sys.executable)


@dataclass
class Workload:
    urls: list[str]
    # Newest entry date of the base documents: "everything up to here was already posted".
    seen_until: str
    instance: str


@dataclass
class Measure:
    workload: str
    tool: str
    runs: list[float] = field(default_factory=list)
    # CPU seconds (user + system) of each run: on a loaded machine, steadier than the wall.
    cpu_runs: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    feed_requests: dict[str, int] = field(default_factory=dict)
    mastodon_requests: dict[str, int] = field(default_factory=dict)
    exit_codes: list[int] = field(default_factory=list)
    note: str = ""
    # Highest 1-minute load average seen before a run: other work on the machine skews timings.
    load: float = 0.0
    # CPU seconds by whom (workers workloads), and what was checked beyond request counts.
    cpu: dict[str, float] = field(default_factory=dict)
    checks: dict[str, object] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_runs) if self.cpu_runs else float("nan")


class Tool:
    name = ""

    def __init__(self, workdir: Path, anchor_bin: Path | None = None):
        self.workdir = workdir
        self.anchor_bin = anchor_bin

    def configure(self, workload: Workload) -> None:
        raise NotImplementedError

    def populate_command(self) -> list[str]:
        return self.command()

    def first_run_command(self) -> list[str]:
        """A run on a feed never seen before, announcing nothing from its back catalogue."""
        return self.populate_command() or self.command()

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.workdir)}

    def snapshot(self) -> None:
        """Keep the state reached after populating, to start each repetition from it."""
        for path in self.state_files():
            if path.exists():
                shutil.copy2(path, path.with_name(path.name + ".snapshot"))

    def restore(self) -> None:
        for path in self.state_files():
            saved = path.with_name(path.name + ".snapshot")
            if saved.exists():
                shutil.copy2(saved, path)

    def forget(self) -> None:
        """Start from nothing, as on a first run."""
        for path in self.state_files():
            path.unlink(missing_ok=True)

    def state_files(self) -> list[Path]:
        raise NotImplementedError

    def state_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.state_files() if path.exists())


class Crossposter(Tool):
    name = "crossposter"

    def configure(self, workload: Workload) -> None:
        lines = [f"instance: {workload.instance}", "state_file: state.sqlite3", "feeds:"]
        for index, url in enumerate(workload.urls):
            lines += [f"  - name: f{index:04d}", f"    url: {url}"]
        (self.workdir / "crossposter.yaml").write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        config = str(self.workdir / "crossposter.yaml")
        return [str(PROJECT_PYTHON), "-m", "crossposter", "run", "--config", config, "-q"]

    def env(self) -> dict[str, str]:
        return {**super().env(), "CROSSPOSTER_ACCESS_TOKEN": TOKEN}

    def state_files(self) -> list[Path]:
        return [self.workdir / "state.sqlite3"]


class Feed2toot(Tool):
    """feed2toot 0.17: an INI file, a uri_list file, token files, a cache of ids."""

    name = "feed2toot"

    def configure(self, workload: Workload) -> None:
        work = self.workdir
        (work / "usercred.txt").write_text(f"{TOKEN}\n")
        (work / "clientcred.txt").write_text("bench-client-id\nbench-client-secret\n")
        (work / "feeds.txt").write_text("".join(f"{url}\n" for url in workload.urls))
        (work / "feed2toot.ini").write_text(
            "[mastodon]\n"
            f"instance_url={workload.instance}\n"
            f"user_credentials={work}/usercred.txt\n"
            f"client_credentials={work}/clientcred.txt\n"
            "toot_visibility=public\n"
            "[cache]\n"
            f"cachefile={work}/cache.db\n"
            # Its default (100 ids for all feeds together) would forget and repost entries.
            f"cache_limit={max(10_000, 20 * len(workload.urls))}\n"
            "[lock]\n"
            f"lock_file={work}/feed2toot.lock\n"
            "lock_timeout=3600\n"
            "[rss]\n"
            f"uri_list={work}/feeds.txt\n"
            "toot={title} {link}\n"
            "[feedparser]\n"
            "accept_bozo_exceptions=true\n"
        )

    def populate_command(self) -> list[str]:
        # Its documented way to start without announcing the back catalogue.
        return [*self.command(), "--populate-cache"]

    def command(self) -> list[str]:
        return [str(self.anchor_bin / "feed2toot"), "-c", str(self.workdir / "feed2toot.ini")]

    def state_files(self) -> list[Path]:
        return [self.workdir / "cache.db"]


class Feediverse(Tool):
    """feediverse 0.4.1: one YAML file holding credentials, feeds and the last date seen."""

    name = "feediverse"

    def configure(self, workload: Workload) -> None:
        feeds = "".join(f"- url: {url}\n  template: '{{title}} {{url}}'\n" for url in workload.urls)
        (self.workdir / "feediverse.yml").write_text(
            f"access_token: {TOKEN}\n"
            "client_id: bench-client-id\n"
            "client_secret: bench-client-secret\n"
            f"url: {workload.instance}\n"
            # Its first interactive setup records "now"; here, the newest entry already posted.
            f"updated: '{workload.seen_until}'\n"
            f"feeds:\n{feeds}"
        )
        self.snapshot()

    def populate_command(self) -> list[str]:
        return []

    def command(self) -> list[str]:
        return [str(self.anchor_bin / "feediverse"), "-c", str(self.workdir / "feediverse.yml")]

    def state_files(self) -> list[Path]:
        return [self.workdir / "feediverse.yml"]

    def forget(self) -> None:
        # Its configuration *is* its state; a first run still starts from the setup date.
        self.restore()


def seen_until(entries: int) -> str:
    return newest_base_date(entries).isoformat()


if __name__ == "__main__":  # pragma: no cover
    sys.exit("this module is used by bench/run.py")
