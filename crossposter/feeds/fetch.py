"""Fetching feeds: conditional, bounded in size and time, several at once."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from crossposter.errors import FeedError, TemporaryFeedError
from crossposter.models import Validators
from crossposter.net.bounded import CutOff, Cutoff, TooLarge, read_capped
from crossposter.net.following import get_following_redirects
from crossposter.net.public import AddressPolicy, BlockedAddress, FeedAdapter, Unresolvable
from crossposter.net.session import NoNetrcSession
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
    workers: int = 64
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
    """Fetch every feed through a bounded pool (fetch_each), all results at once."""
    with contextlib.closing(fetch_each(requests_, options, stop)) as results:
        return list(results)


def fetch_each(
    requests_: Iterable[FetchRequest],
    options: FetchOptions = FetchOptions(),
    stop: threading.Event | None = None,
) -> Iterator[FetchResult]:
    """Fetch every feed through a bounded pool, each result given in the order asked as soon
    as it is in: the caller handles a feed while later ones are still on the network.
    Failures come back as results, never raised.

    Once `stop` is set, fetches in flight are abandoned and come back as temporary failures.
    Closing the iterator early cancels the fetches not started (close it: contextlib.closing).
    """
    pending = list(requests_)
    if not pending:
        return
    sessions = _ThreadSessions(options.addresses)
    hosts = _HostSlots(options.per_host)
    workers = max(1, min(options.workers, len(pending)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")
    try:
        futures = {
            id(request): pool.submit(_fetch_one_safely, request, options, sessions, hosts, stop)
            for request in _spread_by_host(pending)
        }
        for request in pending:
            yield futures[id(request)].result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        sessions.close()


def fetch_one(
    request: FetchRequest,
    options: FetchOptions = FetchOptions(),
    session: requests.Session | None = None,
    stop: threading.Event | None = None,
) -> FetchResult:
    """Fetch one feed or raise FeedError (TemporaryFeedError when a later run may succeed)."""
    if is_local(request.url):
        return _read_local(request, options)
    own_session = session is None
    session = session or new_session(options.addresses)
    try:
        with Cutoff(options.deadline, stop) as cutoff:
            return _fetch_http(request, options, session, cutoff)
    except CutOff as error:
        raise TemporaryFeedError(f"fetch abandoned: {error}") from None
    finally:
        if own_session:
            session.close()


def new_session(addresses: AddressPolicy) -> requests.Session:
    session = NoNetrcSession()
    adapter = FeedAdapter(addresses)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(
        {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    )
    return session


class _ThreadSessions:
    """One connection pool per worker thread: requests.Session is not thread-safe."""

    def __init__(self, addresses: AddressPolicy) -> None:
        self._addresses = addresses
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = new_session(self._addresses)
            self._local.session = session
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        for session in self._all:
            session.close()


class _HostSlots:
    """A semaphore per host, so many feeds on one host do not open a connection each."""

    def __init__(self, per_host: int) -> None:
        self._per_host = max(1, per_host)
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def slot(self, url: str) -> threading.BoundedSemaphore:
        host = _host(url)
        with self._lock:
            if host not in self._slots:
                self._slots[host] = threading.BoundedSemaphore(self._per_host)
            return self._slots[host]


def _host(url: str) -> str:
    return (urlsplit(url).netloc or "").lower()


def _spread_by_host(requests_: list[FetchRequest]) -> list[FetchRequest]:
    """Interleave hosts: a worker waiting for a busy host's slot is a worker not fetching."""
    rank: dict[str, int] = defaultdict(int)
    keyed = []
    for index, request in enumerate(requests_):
        host = _host(request.url)
        keyed.append((rank[host], index, request))
        rank[host] += 1
    return [request for _, _, request in sorted(keyed, key=lambda item: item[:2])]


def _fetch_one_safely(
    request: FetchRequest,
    options: FetchOptions,
    sessions: _ThreadSessions,
    hosts: _HostSlots,
    stop: threading.Event | None,
) -> FetchResult:
    try:
        if stop is not None and stop.is_set():
            raise TemporaryFeedError("not fetched: the run was stopped")
        if is_local(request.url):
            return fetch_one(request, options)
        with hosts.slot(request.url):
            return fetch_one(request, options, sessions.get(), stop)
    except FeedError as error:
        return FetchResult(name=request.name, url=request.url, error=error)
    except Exception as error:  # a bug must not stop the other feeds
        log.debug("unexpected error fetching %s", request.url, exc_info=True)
        return FetchResult(
            name=request.name,
            url=request.url,
            error=FeedError(f"unexpected error: {type(error).__name__}: {error}"),
        )


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


def _fetch_http(
    request: FetchRequest, options: FetchOptions, session: requests.Session, cutoff: Cutoff
) -> FetchResult:
    headers = {}
    if request.validators.etag:
        headers["If-None-Match"] = request.validators.etag
    if request.validators.last_modified:
        headers["If-Modified-Since"] = request.validators.last_modified
    try:
        with session.get_adapter(request.url).fetching():
            response = get_following_redirects(
                session,
                request.url,
                headers,
                timeout=(min(options.timeout, max(cutoff.remaining(), 0.01)), options.timeout),
                max_redirects=options.max_redirects,
            )
    except requests.RequestException as error:
        cutoff.check()  # a connection the cutoff shut says so, not "connection reset"
        raise _request_failed(error, options) from None

    with response:
        moved_to = _permanent_redirect_target(response)
        if response.status_code == 304:
            return FetchResult(
                name=request.name,
                url=request.url,
                not_modified=True,
                final_url=response.url,
                validators=request.validators,
                moved_permanently_to=moved_to,
            )
        _raise_for_status(response)
        content = _read_capped(response, options, cutoff)
        return FetchResult(
            name=request.name,
            url=request.url,
            content=content,
            headers={key.lower(): value for key, value in response.headers.items()},
            final_url=response.url,
            validators=Validators(
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            ),
            moved_permanently_to=moved_to,
        )


def _request_failed(error: requests.RequestException, options: FetchOptions) -> FeedError:
    if isinstance(error, BlockedAddress) and not isinstance(error, Unresolvable):
        return FeedError(
            f"redirect refused: {error}; a feed on a public address may redirect only to "
            "public addresses (allow_private_urls_in_feeds: true lifts this)"
        )
    if isinstance(error, requests.TooManyRedirects):
        return FeedError("too many redirects (a redirect loop?)")
    if isinstance(error, requests.Timeout):
        return TemporaryFeedError(f"timed out after {options.timeout:g} s")
    if isinstance(error, requests.ConnectionError):
        return TemporaryFeedError(f"connection failed: {root_cause(error)}")
    return FeedError(f"request failed: {error}")


def _permanent_redirect_target(response: requests.Response) -> str | None:
    if any(step.status_code in PERMANENT_REDIRECTS for step in response.history):
        return response.url
    return None


def _raise_for_status(response: requests.Response) -> None:
    status = response.status_code
    if status < 400 and status != 204:
        return
    reason = f"HTTP {status} {response.reason or ''}".strip()
    if status == 410:
        raise FeedError(f"{reason}: the feed is gone for good; remove it or fix its url")
    if status == 429 or status >= 500 or status == 408:
        raise TemporaryFeedError(reason)
    if status == 204:
        raise FeedError("HTTP 204: no content")
    raise FeedError(reason)


def _read_capped(response: requests.Response, options: FetchOptions, cutoff: Cutoff) -> bytes:
    """Read at most max_bytes *decoded* bytes, which also defuses gzip bombs."""
    try:
        return read_capped(response, options.max_bytes, cutoff)
    except TooLarge:
        raise FeedError(f"larger than the {options.max_bytes}-byte limit") from None
    except requests.exceptions.ContentDecodingError:
        raise FeedError("the compressed body is corrupt") from None
    except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as error:
        raise TemporaryFeedError(f"connection broken while reading: {root_cause(error)}") from None
    except requests.Timeout:
        raise TemporaryFeedError(f"timed out after {options.timeout:g} s") from None
