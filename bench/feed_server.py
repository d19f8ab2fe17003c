"""Benchmark feed server: many blogs on loopback, one asyncio process, ETag/304, a delay.

Run by bench/run.py as its own process, so that serving 1,000 feeds never competes
with the measured tool for a GIL. Each feed lives on its own loopback address
(127.0.1.1, 127.0.1.2, ...: Linux answers on all of 127/8), because each is a
different blog; a client's per-host connection limit then sees real hosts.

Control, on http://127.0.0.1:PORT/_bench/ (never delayed, never counted):
  /_bench/setup?feeds=N&entries=M&new=K&rev=R&delay=S&big=E&lang=L   what to serve
  /_bench/stats                                               counts since the last clear
  /_bench/clear                                               reset the counts
  /_bench/fetches                                             {times fetched: feeds}, every
                                                              served feed included (0 too)
Feed i is http://<address i>:PORT/feed/i.xml; the big feed (E entries, ~2 KB each) is
http://127.0.0.1:PORT/big.xml. `new` adds K newer entries to every feed; `rev` changes
each document (and so its ETag) without adding entries. `lang=0` leaves out the
feeds' `<language>` (a toot's language is then detected from its text).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

# Fixed in the past so that every entry is older than "now" for every tool.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
PARAGRAPH = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. "
)


def address(index: int) -> str:
    """Loopback address of feed `index`: 127.0.1.1 upwards (65,000 of them)."""
    number = index + 1
    return f"127.0.{1 + number // 254}.{1 + number % 254}"


def entry_date(j: int) -> datetime:
    return EPOCH + timedelta(hours=j)


def newest_base_date(entries: int) -> datetime:
    return entry_date(entries - 1)


def render_feed(
    index: int, entries: int, new: int, rev: int, paragraphs: int = 1, language: bool = True
) -> bytes:
    blog = f"https://blog{index}.example"
    items = []
    for j in reversed(range(entries + new)):
        body = f"<p>{PARAGRAPH * paragraphs}</p>"
        items.append(
            f"<item><title>Post {j} of blog {index}</title><link>{blog}/posts/{j}</link>"
            f'<guid isPermaLink="true">{blog}/posts/{j}</guid>'
            f"<pubDate>{format_datetime(entry_date(j))}</pubDate>"
            f"<category>Topic{j % 7}</category>"
            f"<description><![CDATA[{body}]]></description></item>"
        )
    build = format_datetime(entry_date(entries + new + rev))
    head = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Blog {index}</title><link>{blog}/</link>"
        + ("<language>en</language>" if language else "")
        + f"<description>Blog number {index}</description><lastBuildDate>{build}</lastBuildDate>"
    )
    return (head + "".join(items) + "</channel></rss>\n").encode()


class Feeds:
    def __init__(self) -> None:
        self.feeds = 0
        self.entries = 10
        self.new = 0
        self.rev = 0
        self.delay = 0.0
        self.big = 0
        self.lang = 1
        self._cache: dict[str, tuple[bytes, str]] = {}
        self.stats: dict[str, int] = {}
        # Requests per feed index since the last clear: was each fetched once per pass?
        self.fetched: dict[int, int] = {}

    def setup(self, params: dict[str, str]) -> None:
        for name in ("feeds", "entries", "new", "rev", "big", "lang"):
            if name in params:
                setattr(self, name, int(params[name]))
        if "delay" in params:
            self.delay = float(params["delay"])
        self._cache.clear()

    def document(self, path: str) -> tuple[bytes, str] | None:
        cached = self._cache.get(path)
        if cached:
            return cached
        if path == "/big.xml" and self.big:
            # ~1.9 KB per entry: 5,000 entries make a 9.5 MB document, under the 10 MiB cap.
            body = render_feed(0, self.big, 0, self.rev, paragraphs=7)
        elif path.startswith("/feed/") and path.endswith(".xml"):
            index = int(path[6:-4])
            if not 0 <= index < self.feeds:
                return None
            body = render_feed(index, self.entries, self.new, self.rev, language=bool(self.lang))
        else:
            return None
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        self._cache[path] = (body, etag)
        return body, etag

    def count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1

    def count_fetch(self, path: str) -> None:
        if path.startswith("/feed/") and path.endswith(".xml") and path[6:-4].isdigit():
            index = int(path[6:-4])
            self.fetched[index] = self.fetched.get(index, 0) + 1

    def fetch_histogram(self) -> dict[int, int]:
        """How many of the served feeds were fetched 0, 1, 2... times."""
        histogram: dict[int, int] = {}
        for index in range(self.feeds):
            times = self.fetched.get(index, 0)
            histogram[times] = histogram.get(times, 0) + 1
        return histogram

    def clear(self) -> None:
        self.stats.clear()
        self.fetched.clear()


async def handle(feeds: Feeds, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            parts = urlsplit(target)
            keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            if parts.path.startswith("/_bench/"):
                status, body, extra = control(feeds, parts.path, parts.query)
            else:
                status, body, extra = await serve(feeds, parts.path, headers)
            head_lines = [f"HTTP/1.1 {status} {REASONS[status]}", *extra]
            if status != 304:
                head_lines.append(f"Content-Length: {len(body)}")
            if not keep:
                head_lines.append("Connection: close")
            writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1"))
            if method != "HEAD" and status != 304:
                writer.write(body)
            await writer.drain()
            if not keep:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found"}


async def serve(feeds: Feeds, path: str, headers: dict[str, str]):
    feeds.count("requests")
    feeds.count_fetch(path)
    if "if-none-match" in headers or "if-modified-since" in headers:
        feeds.count("conditional")
    if feeds.delay:
        await asyncio.sleep(feeds.delay)
    document = feeds.document(path)
    if document is None:
        feeds.count("404")
        return 404, b"not found\n", ["Content-Type: text/plain"]
    body, etag = document
    if headers.get("if-none-match") == etag:
        feeds.count("304")
        return 304, b"", [f"ETag: {etag}"]
    feeds.count("200")
    return 200, body, ["Content-Type: application/rss+xml; charset=utf-8", f"ETag: {etag}"]


def control(feeds: Feeds, path: str, query: str):
    params = {key: values[-1] for key, values in parse_qs(query).items()}
    if path == "/_bench/setup":
        feeds.setup(params)
        feeds.clear()
    elif path == "/_bench/clear":
        feeds.clear()
    elif path == "/_bench/fetches":
        body = json.dumps(feeds.fetch_histogram()).encode()
        return 200, body, ["Content-Type: application/json"]
    elif path != "/_bench/stats":
        return 404, b"", []
    return 200, json.dumps(feeds.stats).encode(), ["Content-Type: application/json"]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000, help="loopback addresses to listen on")
    args = parser.parse_args()
    feeds = Feeds()
    control_server = await asyncio.start_server(
        lambda r, w: handle(feeds, r, w), "127.0.0.1", 0, backlog=1024
    )
    port = control_server.sockets[0].getsockname()[1]
    hosts = [address(i) for i in range(args.hosts)]
    await asyncio.start_server(lambda r, w: handle(feeds, r, w), hosts, port, backlog=1024)
    print(port, flush=True)
    # The parent closes our stdin when it is done: no stray server outlives the benchmark.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
