"""Benchmark Mastodon API: the tests' fake, in its own process, with counters to read.

Prints its port, serves until its stdin closes. Extra routes (not counted):
  GET /_bench/stats   {"GET /api/v2/instance": 1, "POST /api/v1/statuses": 100, ...}
  GET /_bench/clear   forget requests, statuses and idempotency keys
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.mastodon_api import MastodonAPI

TOKEN = "bench-token"


class BenchMastodonAPI(MastodonAPI):
    def dispatch(self, handler) -> None:
        if not handler.path.startswith("/_bench/"):
            return super().dispatch(handler)
        with self.lock:
            if handler.path.startswith("/_bench/clear"):
                self.requests.clear()
                self.statuses.clear()
                self._idempotency.clear()
                self._request_windows.clear()
            counts = Counter(f"{method} {path.rstrip('/')}" for method, path, _ in self.requests)
        body = json.dumps(counts).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return None


def main() -> None:
    # No rate limits: the benchmark posts thousands of toots in one invocation.
    api = BenchMastodonAPI(valid_tokens={TOKEN}, request_limit=10**9, status_limit=10**9)
    api.start()
    print(api.port, flush=True)
    sys.stdin.read()
    api.stop()


if __name__ == "__main__":
    main()
