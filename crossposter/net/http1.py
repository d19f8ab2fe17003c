"""HTTP/1.1 over asyncio streams, parsed by h11: many exchanges at once in one thread.

A feed fetch in a thread of its own hands the interpreter lock over at every blocking
call; with 64 such threads a 304 cost ~0.85 ms of CPU, against ~0.2 ms multiplexed on
an event loop (BENCHMARKS.md, round three). h11 (python-hyper's sans-I/O HTTP/1.1)
frames the messages: chunked bodies, 1xx answers, keep-alive and malformed answers are
what a hand-written parser gets wrong.

Every wait for bytes is bounded by `wait`; the caller bounds the whole exchange (its
deadline, a stop) by cancelling the task, which closes nothing by itself: the caller
closes the connection it was given.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass, field

import h11

from crossposter.net.limits import CHUNK, TooLarge

# A head (status line and headers) larger than this is a broken or hostile server.
MAX_HEAD_BYTES = 64 * 1024


class WaitedTooLong(Exception):
    """No byte came (or the connection was not made) within the wait allowed."""


class Broken(Exception):
    """The connection failed or the answer could not be understood; `cause` says how."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class CorruptBody(Exception):
    """The body's content encoding could not be decoded."""


@dataclass(frozen=True)
class Head:
    """An answer's status line and headers: names lower-cased, repeated ones joined as
    requests joins them; each Set-Cookie kept apart, since a cookie's date has a comma."""

    status: int
    reason: str
    headers: dict[str, str]
    set_cookies: tuple[str, ...] = field(default=())


class Connection:
    """One HTTP/1.1 connection: a request, its answer's head, then its body."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wait: float
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._wait = wait
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._encoding = ""
        self._declared = ""

    @property
    def stale(self) -> bool:
        """Whether the server closed it while it lay idle."""
        return self._reader.at_eof() or self._writer.is_closing()

    async def send(self, target: str, headers: list[tuple[str, str]]) -> Head:
        """GET `target`; the answer's head, its body left to read (`read_body`) or not."""
        try:
            # Latin-1, as http.client sends them: a validator a server gave comes back as is.
            raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
            self._writer.write(
                self._h11.send(h11.Request(method="GET", target=target, headers=raw))
                + self._h11.send(h11.EndOfMessage())
            )
            while True:
                event = await self._next_event()
                if isinstance(event, h11.Response):
                    break
                if not isinstance(event, h11.InformationalResponse):
                    raise h11.RemoteProtocolError(f"the server answered with {event!r}")
        except (OSError, h11.ProtocolError) as error:
            raise Broken(error) from None
        names: dict[str, str] = {}
        cookies = []
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            if name == "set-cookie":
                cookies.append(value)
            names[name] = f"{names[name]}, {value}" if name in names else value
        self._encoding = names.get("content-encoding", "")
        self._declared = names.get("content-length", "")
        return Head(event.status_code, event.reason.decode("latin-1"), names, tuple(cookies))

    async def read_body(self, limit: int) -> bytes:
        """The body, decoded, refused (TooLarge) past `limit` bytes declared or decoded;
        Broken when the connection fails, CorruptBody when the decoding does."""
        if self._declared.isdigit() and int(self._declared) > limit:
            raise TooLarge(f"larger than the {limit}-byte limit")
        decoder = _Decoder(self._encoding)
        chunks = []
        size = 0
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, h11.EndOfMessage):
                    break
                if not isinstance(event, h11.Data):
                    raise h11.RemoteProtocolError(f"the server sent {event!r} in a body")
                chunk = decoder.decode(bytes(event.data), limit - size)
                size += len(chunk)
                chunks.append(chunk)
            chunks.append(decoder.flush(limit - size))
        except (OSError, h11.ProtocolError) as error:
            raise Broken(error) from None
        return b"".join(chunks)

    def ready_again(self) -> bool:
        """Whether the exchange ended cleanly and the connection can carry another."""
        if self._h11.their_state is h11.SEND_BODY:
            # An answer with no body to read (a 304) still has its end to take in.
            try:
                ended = isinstance(self._h11.next_event(), h11.EndOfMessage)
            except h11.ProtocolError:
                ended = False
            if not ended:
                return False
        states = (self._h11.our_state, self._h11.their_state)
        if states != (h11.DONE, h11.DONE) or self.stale:
            return False
        self._h11.start_next_cycle()
        return True

    def close(self) -> None:
        # At once, as urllib3 closes a socket: TLS's polite close would wait on the peer.
        self._writer.transport.abort()

    async def _next_event(self) -> h11.Event | type[h11.NEED_DATA]:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await _within(self._wait, self._reader.read(CHUNK))
            if not data and self._h11.their_state is h11.SEND_RESPONSE:
                raise ConnectionAbortedError("the server closed the connection, no answer")
            self._h11.receive_data(data)


async def connect(
    address: str,
    port: int,
    wait: float,
    tls: ssl.SSLContext | None = None,
    name: str | None = None,
) -> Connection:
    """A connection to `address` (an IP address, never looked up again), its TLS for
    `name`: the SNI and the certificate are the name's. Broken or WaitedTooLong."""
    try:
        reader, writer = await _within(
            wait,
            asyncio.open_connection(
                address, port, ssl=tls, server_hostname=name if tls is not None else None
            ),
        )
    except OSError as error:
        raise Broken(error) from None
    return Connection(reader, writer, wait)


async def tunnel(
    address: str,
    port: int,
    wait: float,
    authority: str,
    proxy_headers: list[tuple[str, str]],
    tls: ssl.SSLContext,
    name: str,
) -> Connection:
    """A TLS connection to `authority` through the HTTP proxy at `address`:`port` (CONNECT)."""
    proxy = await connect(address, port, wait)
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    lines += [f"{header}: {value}" for header, value in proxy_headers]
    try:
        proxy._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await _within(wait, proxy._reader.readuntil(b"\r\n\r\n"))
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        if status_line.split(" ")[1:2] != ["200"]:
            raise ConnectionRefusedError(f"the proxy answered {status_line!r} to CONNECT")
        await _within(wait, proxy._writer.start_tls(tls, server_hostname=name))
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        proxy.close()
        raise Broken(error) from None
    except BaseException:
        proxy.close()
        raise
    return Connection(proxy._reader, proxy._writer, wait)


class Pool:
    """Idle keep-alive connections, by where they lead, for the length of one pass."""

    def __init__(self) -> None:
        self._idle: dict[tuple[object, ...], list[Connection]] = {}

    def take(self, key: tuple[object, ...]) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.stale:
                return connection
            connection.close()
        return None

    def give_back(self, key: tuple[object, ...], connection: Connection) -> None:
        if connection.ready_again():
            self._idle.setdefault(key, []).append(connection)
        else:
            connection.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


async def _within(seconds: float, waiting):  # type: ignore[no-untyped-def]
    try:
        async with asyncio.timeout(seconds):
            return await waiting
    except TimeoutError:
        raise WaitedTooLong(f"no answer within {seconds:g} s") from None


class _Decoder:
    """Content-Encoding gzip or deflate undone as urllib3 undoes it; any other passes as is.

    Each step asks zlib for at most one byte more than the room left, so a small
    compressed body that inflates to gigabytes (a bomb) is refused without being inflated.
    """

    def __init__(self, encoding: str) -> None:
        self._kind = encoding.strip().lower()
        self._zlib = self._fresh()
        self._first = True

    def _fresh(self):  # type: ignore[no-untyped-def]
        if self._kind in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._kind == "deflate":
            return zlib.decompressobj()
        return None

    def decode(self, data: bytes, room: int) -> bytes:
        if self._zlib is None:
            return _fitted(data, room)
        try:
            out = self._inflate(data, room)
        except zlib.error as error:
            if not (self._first and self._kind == "deflate"):
                raise CorruptBody(str(error)) from None
            # Some servers send deflate without its zlib header: raw, as urllib3 allows.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                out = self._inflate(data, room)
            except zlib.error as again:
                raise CorruptBody(str(again)) from None
        self._first = False
        return out

    def flush(self, room: int) -> bytes:
        if self._zlib is None:
            return b""
        try:
            return _fitted(self._zlib.flush(), room)
        except zlib.error as error:
            raise CorruptBody(str(error)) from None

    def _inflate(self, data: bytes, room: int) -> bytes:
        out = self._zlib.decompress(data, room + 1)
        if len(out) > room:
            raise TooLarge(f"larger than the {room}-byte limit")
        # A gzip body may hold several members, one after the other.
        while self._zlib.eof and self._zlib.unused_data and self._kind != "deflate":
            rest = self._zlib.unused_data
            self._zlib = self._fresh()
            out += self._inflate(rest, room - len(out))
        return out


def _fitted(data: bytes, room: int) -> bytes:
    if len(data) > room:
        raise TooLarge(f"larger than the {room}-byte limit")
    return data
