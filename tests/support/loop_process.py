"""`crossposter run --loop --listen` in a process of its own, as a container runs it: its
address read from its log, its log kept, stopped with SIGTERM as `docker stop` does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

_LISTENING = re.compile(r"listening on (\S+):(\d+)")
# What any wait here may take on a busy machine before the test gives up.
BOUND = 30.0


class LoopProcess:
    def __init__(self, config: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crossposter", "run", "--loop", "--config", config, *extra],
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        match = self.wait_for(_LISTENING)
        self.base_url = f"http://{match.group(1)}:{match.group(2)}"

    def _read(self) -> None:
        for line in self.process.stderr:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_for(self, pattern: re.Pattern | str, *, after: int = 0) -> re.Match:
        """The first log line from line `after` on that matches `pattern`, once written."""
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + BOUND
        with self._seen:
            while True:
                for line in self.lines[after:]:
                    match = pattern.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no log line matched {pattern.pattern!r}:\n{''.join(self.lines)}"
                    )
                self._seen.wait(min(left, 0.1))

    def count(self, pattern: str) -> int:
        with self._seen:
            return sum(1 for line in self.lines if re.search(pattern, line))

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit status and the seconds it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the loop did not end after SIGTERM") from None
        self._reader.join(BOUND)
        return code, time.monotonic() - started

    def __enter__(self) -> LoopProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
