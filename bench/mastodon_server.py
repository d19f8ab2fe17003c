"""Benchmark Mastodon API: the tests' fake, in its own process, with counters to read.

Prints its port, serves until its stdin closes. Extra routes (not counted):
  GET /_bench/stats     {"GET /api/v2/instance": 1, "POST /api/v1/statuses": 100, ...}
  GET /_bench/clear     forget requests, statuses and idempotency keys
  GET /_bench/setup?tokens=N&request_limit=R&status_limit=S&delay=D
                        also accept account_token(0..N-1), set the limits (per token, as
                        Mastodon's per account), wait D seconds before every answer
  GET /_bench/accounts  per token: statuses posted, requests, 429 answers, and the links
                        of its statuses
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.mastodon_api import MastodonAPI

TOKEN = "bench-token"
LINK = re.compile(r"https://blog\d+\.example/posts/\d+")


def account_token(index: int) -> str:
    return f"bench-token-{index}"


class BenchMastodonAPI(MastodonAPI):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delay = 0.0
        self.throttled: Counter[str] = Counter()

    def dispatch(self, handler) -> None:
        if not handler.path.startswith("/_bench/"):
            if self.delay:
                time.sleep(self.delay)
            return super().dispatch(handler)
        parts = urlsplit(handler.path)
        with self.lock:
            if parts.path == "/_bench/clear":
                self.requests.clear()
                self.statuses.clear()
                self._idempotency.clear()
                self._request_windows.clear()
                self._status_windows.clear()
                self.throttled.clear()
            if parts.path == "/_bench/setup":
                self._setup({k: v[-1] for k, v in parse_qs(parts.query).items()})
            if parts.path == "/_bench/accounts":
                answer = self._accounts()
            else:
                answer = Counter(
                    f"{method} {path.rstrip('/')}" for method, path, _ in self.requests
                )
        body = json.dumps(answer).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return None

    def _setup(self, params: dict[str, str]) -> None:
        for index in range(int(params.get("tokens", 0))):
            self.valid_tokens.add(account_token(index))
        self.request_limit = int(params.get("request_limit", self.request_limit))
        self.status_limit = int(params.get("status_limit", self.status_limit))
        self.delay = float(params.get("delay", self.delay))

    def _accounts(self) -> dict[str, dict]:
        accounts: dict[str, dict] = {}

        def of(token: str | None) -> dict:
            return accounts.setdefault(
                token or "-", {"statuses": 0, "requests": 0, "429": 0, "links": []}
            )

        for _, _, headers in self.requests:
            auth = headers.get("Authorization") or ""
            of(auth[7:].strip() if auth.lower().startswith("bearer ") else None)["requests"] += 1
        for status in self.statuses:
            account = of(status.get("token"))
            account["statuses"] += 1
            account["links"] += LINK.findall(status.get("text") or "")
        for token, count in self.throttled.items():
            of(token)["429"] = count
        return accounts

    def _send(self, handler, resp, rl_headers) -> None:
        if resp.status == 429:
            auth = handler.headers.get("Authorization") or ""
            with self.lock:
                self.throttled[auth[7:].strip() or "-"] += 1
        super()._send(handler, resp, rl_headers)


def main() -> None:
    # No rate limits by default: the benchmark posts thousands of toots in one invocation.
    api = BenchMastodonAPI(valid_tokens={TOKEN}, request_limit=10**9, status_limit=10**9)
    api.start()
    print(api.port, flush=True)
    sys.stdin.read()
    api.stop()


if __name__ == "__main__":
    main()
