"""Fetching feeds: conditional, bounded in size and time, many at once on one event loop.

The caller runs the loop while it waits for its next result, and a keeper thread while
the caller is away handling a feed for longer (net.shared_loop): a slow post holds none
of the fetches in flight. No thread per fetch, none for deadlines (a fetch's deadline is
a timer of the loop; a stop is looked at every net.watcher.POLL seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from crossposter.errors import FeedError, TemporaryFeedError
from crossposter.models import Validators
from crossposter.net.addresses import AddressPolicy, BlockedAddress, FeedHops, Unresolvable
from crossposter.net.following import Answer, Getter, NotFetchable, TooManyRedirects
from crossposter.net.http1 import Broken, CorruptBody, WaitedTooLong
from crossposter.net.limits import TooLarge
from crossposter.net.shared_loop import SharedLoop
from crossposter.net.watcher import POLL
from crossposter.web import USER_AGENT, root_cause

log = logging.getLogger(__name__)

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
PERMANENT_REDIRECTS = {301, 308}


@dataclass(frozen=True)
class FetchRequest:
    name: str
    url: str
    validators: Validators = Validators()


@dataclass(frozen=True)
class FetchResult:
    name: str
    url: str
    not_modified: bool = False
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str = ""
    validators: Validators = Validators()
    # Set when the feed moved for good, so the user can update the configuration.
    moved_permanently_to: str | None = None
    error: FeedError | None = None


@dataclass(frozen=True)
class FetchOptions:
    # Connecting, and each wait for a byte.
    timeout: float = 20.0
    # The whole fetch, body included: a server dripping bytes is cut off here.
    deadline: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    # Fetches in flight at once. Each is a socket of one event loop, not a thread: 256 cost
    # no more CPU than 64, and a thousand feeds 50 ms away no longer queue (BENCHMARKS.md).
    workers: int = 256
    max_redirects: int = 10
    # Politeness: feeds that share a host never hold more connections to it than this.
    per_host: int = 4
    # Where a feed's redirects may lead (allow_private_urls_in_feeds lifts the rule).
    addresses: AddressPolicy = field(default_factory=AddressPolicy)


def is_local(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("", "file")


def fetch_all(
    requests_: Iterable[FetchRequest],
    options: FetchOptions = FetchOptions(),
    stop: threading.Event | None = None,
) -> list[FetchResult]:
    """Fetch every feed (fetch_each), all results at once."""
    with contextlib.closing(fetch_each(requests_, options, stop)) as results:
        return list(results)


def fetch_one(
    request: FetchRequest,
    options: FetchOptions = FetchOptions(),
    stop: threading.Event | None = None,
) -> FetchResult:
    """Fetch one feed or raise FeedError (TemporaryFeedError when a later run may succeed)."""
    result = fetch_all([request], options, stop)[0]
    if result.error is not None:
        raise result.error
    return result


def fetch_each(
    requests_: Iterable[FetchRequest],
    options: FetchOptions = FetchOptions(),
    stop: threading.Event | None = None,
) -> Iterator[FetchResult]:
    """Fetch every feed, at most `options.workers` at once and `options.per_host` on one
    host, each result given in the order asked as soon as it is in: the caller handles a
    feed while later ones are still on the network. Failures come back as results, never
    raised.

    Once `stop` is set, fetches in flight are abandoned and come back as temporary failures.
    Closing the iterator early cancels the fetches not done (close it: contextlib.closing).
    """
    pending = list(requests_)
    if not pending:
        return
    fetching = _Fetching(options, stop)
    shared = SharedLoop()
    try:
        results = shared.run(fetching.start(_spread_by_host(pending)))
        for request in pending:
            yield shared.run(results[id(request)])
    finally:
        shared.close(fetching.close())


class _Fetching:
    """One fetch_each: its slots, its connections, its stop."""

    def __init__(self, options: FetchOptions, stop: threading.Event | None) -> None:
        self.options = options
        self._stop = stop
        self._slots = asyncio.Semaphore(_within_open_files(options.workers))
        self._hosts: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(max(1, options.per_host))
        )
        self._fetches: list[asyncio.Task[FetchResult]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._getter = Getter(
            options.timeout,
            {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        )

    def stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def result(self, request: FetchRequest) -> FetchResult:
        started = False
        try:
            if self.stopped():
                raise TemporaryFeedError("not fetched: the run was stopped")
            if is_local(request.url):
                return _read_local(request, self.options)
            async with self._hosts[_host(request.url)], self._slots:
                started = True
                return await self._within_deadline(request)
        except FeedError as error:
            return FetchResult(name=request.name, url=request.url, error=error)
        except asyncio.CancelledError:
            if not self.stopped():
                raise
            why = "fetch abandoned: stopped" if started else "not fetched: the run was stopped"
            return FetchResult(name=request.name, url=request.url, error=TemporaryFeedError(why))
        except Exception as error:  # a bug must not stop the other feeds
            log.debug("unexpected error fetching %s", request.url, exc_info=True)
            return FetchResult(
                name=request.name,
                url=request.url,
                error=FeedError(f"unexpected error: {type(error).__name__}: {error}"),
            )

    async def start(self, requests_: list[FetchRequest]) -> dict[int, asyncio.Task[FetchResult]]:
        """Every fetch started, by the id of its request."""
        results = {}
        for request in requests_:
            task = asyncio.create_task(self.result(request))
            self._fetches.append(task)
            results[id(request)] = task
        self._watcher = asyncio.create_task(self._watch_stop())
        return results

    async def close(self) -> None:
        tasks = [*self._fetches, *([self._watcher] if self._watcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._getter.close()
        for _ in range(2):  # the aborted transports (and TLS's beneath) let go of their sockets
            await asyncio.sleep(0)

    async def _watch_stop(self) -> None:
        if self._stop is None:
            return
        while not self._stop.is_set():
            await asyncio.sleep(POLL)
        for task in self._fetches:
            task.cancel()

    async def _within_deadline(self, request: FetchRequest) -> FetchResult:
        deadline = asyncio.timeout(self.options.deadline)
        try:
            async with deadline:
                return await self._fetch_http(request)
        except TimeoutError:
            if deadline.expired():
                raise TemporaryFeedError(
                    f"fetch abandoned: took longer than {self.options.deadline:g} s"
                ) from None
            raise

    async def _fetch_http(self, request: FetchRequest) -> FetchResult:
        options = self.options
        headers = {}
        if request.validators.etag:
            headers["If-None-Match"] = request.validators.etag
        if request.validators.last_modified:
            headers["If-Modified-Since"] = request.validators.last_modified
        try:
            answer = await self._getter.get(
                request.url, headers, FeedHops(options.addresses), options.max_redirects
            )
        except (BlockedAddress, TooManyRedirects, NotFetchable, Broken, WaitedTooLong) as error:
            raise _request_failed(error, options) from None
        try:
            return await _result(request, answer, options)
        finally:
            answer.done()


async def _result(request: FetchRequest, answer: Answer, options: FetchOptions) -> FetchResult:
    moved_to = answer.url if PERMANENT_REDIRECTS.intersection(answer.redirects) else None
    if answer.head.status == 304:
        return FetchResult(
            name=request.name,
            url=request.url,
            not_modified=True,
            final_url=answer.url,
            validators=request.validators,
            moved_permanently_to=moved_to,
        )
    _raise_for_status(answer.head.status, answer.head.reason)
    try:
        content = await answer.body(options.max_bytes)
    except TooLarge:
        raise FeedError(f"larger than the {options.max_bytes}-byte limit") from None
    except CorruptBody:
        raise FeedError("the compressed body is corrupt") from None
    except Broken as error:
        raise TemporaryFeedError(
            f"connection broken while reading: {root_cause(error.cause)}"
        ) from None
    except WaitedTooLong:
        raise TemporaryFeedError(f"timed out after {options.timeout:g} s") from None
    headers = answer.head.headers
    return FetchResult(
        name=request.name,
        url=request.url,
        content=content,
        headers=dict(headers),
        final_url=answer.url,
        validators=Validators(
            etag=headers.get("etag"), last_modified=headers.get("last-modified")
        ),
        moved_permanently_to=moved_to,
    )


def _within_open_files(wanted: int) -> int:
    """Fetches in flight, each a socket, held to half the files this process may open
    (256 by default on macOS): the state, the logs and the instance need theirs too."""
    try:
        import resource
    except ImportError:  # no such limit to read (Windows)
        return max(1, wanted)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max(1, wanted)
    return max(1, min(wanted, (soft - 32) // 2))


def _host(url: str) -> str:
    return (urlsplit(url).netloc or "").lower()


def _spread_by_host(requests_: list[FetchRequest]) -> list[FetchRequest]:
    """Interleave hosts: feeds of one host wait for its few slots while others fetch."""
    rank: dict[str, int] = defaultdict(int)
    keyed = []
    for index, request in enumerate(requests_):
        host = _host(request.url)
        keyed.append((rank[host], index, request))
        rank[host] += 1
    return [request for _, _, request in sorted(keyed, key=lambda item: item[:2])]


def _read_local(request: FetchRequest, options: FetchOptions) -> FetchResult:
    parts = urlsplit(request.url)
    path = Path(unquote(parts.path)) if parts.scheme.lower() == "file" else Path(request.url)
    try:
        with path.open("rb") as handle:
            content = handle.read(options.max_bytes + 1)
    except OSError as error:
        raise FeedError(f"cannot read {path}: {error.strerror}") from None
    if len(content) > options.max_bytes:
        raise FeedError(f"larger than the {options.max_bytes}-byte limit")
    return FetchResult(
        name=request.name, url=request.url, content=content, final_url=path.resolve().as_uri()
    )


def _request_failed(error: Exception, options: FetchOptions) -> FeedError:
    if isinstance(error, BlockedAddress) and not isinstance(error, Unresolvable):
        return FeedError(
            f"redirect refused: {error}; a feed on a public address may redirect only to "
            "public addresses (allow_private_urls_in_feeds: true lifts this)"
        )
    if isinstance(error, TooManyRedirects):
        return FeedError("too many redirects (a redirect loop?)")
    if isinstance(error, WaitedTooLong):
        return TemporaryFeedError(f"timed out after {options.timeout:g} s")
    if isinstance(error, Broken):
        return TemporaryFeedError(f"connection failed: {root_cause(error.cause)}")
    if isinstance(error, Unresolvable):
        return TemporaryFeedError(f"connection failed: {root_cause(error)}")
    return FeedError(f"request failed: {error}")


def _raise_for_status(status: int, reason_phrase: str) -> None:
    if status < 400 and status != 204:
        return
    reason = f"HTTP {status} {reason_phrase or ''}".strip()
    if status == 410:
        raise FeedError(f"{reason}: the feed is gone for good; remove it or fix its url")
    if status == 429 or status >= 500 or status == 408:
        raise TemporaryFeedError(reason)
    if status == 204:
        raise FeedError("HTTP 204: no content")
    raise FeedError(reason)
