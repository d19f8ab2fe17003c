"""A feed's GET on an event loop, following its redirects, as requests followed them.

Each hop connects to the address its rule checked (net.public.FeedHops), goes through
the proxy the environment names for it (requests' own reading of HTTP_PROXY, NO_PROXY
and the rest), trusts the CA bundle requests would (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE,
else certifi's), and carries the cookies set earlier in its chain of redirects (a
blog's cookie check); no credentials ride along (net.session). Names are looked up
aside (net.connect.aside): nothing can wake a lookup that hangs, but the fetch stops
waiting for it at its deadline.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from urllib.parse import unquote, urljoin, urlsplit

from crossposter.net.addresses import DEFAULT_PORTS, BlockedAddress, FeedHops
from crossposter.net.connect import aside, is_address, lookup
from crossposter.net.environment import ca_bundle_named, names_a_proxy
from crossposter.net.http1 import Broken, Connection, Head, Pool, connect, tunnel

REDIRECTS = {301, 302, 303, 307, 308}
# A URL requests would send unchanged: lower-case http(s) scheme and host, a path, only
# characters that need no quoting, no percent escape to normalise, no dot segment, no
# fragment. Most feed URLs are; requests prepares any other (and loads only then).
_AS_SENT = re.compile(
    r"https?://[a-z0-9.-]+(?::(?P<port>[1-9][0-9]{0,4}))?/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*"
    r"(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]+)?"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|\?|$)")


class TooManyRedirects(Exception):
    pass


class NotFetchable(Exception):
    """A URL (or a proxy for it) that cannot be fetched as written."""


@dataclass
class Answer:
    """An answer's head; its body is read (`body`) or not, then the answer is `done`."""

    head: Head
    url: str
    redirects: tuple[int, ...]
    connection: Connection
    key: tuple[object, ...]
    pool: Pool

    async def body(self, limit: int) -> bytes:
        return await self.connection.read_body(limit)

    def done(self) -> None:
        self.pool.give_back(self.key, self.connection)

    def discard(self) -> None:
        self.connection.close()


class Getter:
    """What the GETs of one pass share: idle connections, the TLS context, the proxies."""

    def __init__(self, wait: float, headers: Mapping[str, str]) -> None:
        self.wait = wait
        self._headers = dict(headers)
        self._pool = Pool()
        self._tls: ssl.SSLContext | None = None
        # The environment of a pass does not change: read once (net.environment).
        self._proxies_named = names_a_proxy()

    def close(self) -> None:
        self._pool.close()

    async def get(
        self, url: str, headers: Mapping[str, str], hops: FeedHops, max_redirects: int
    ) -> Answer:
        """The answer to GET `url` (`headers` over the pass's) after its redirects.

        Raises BlockedAddress, TooManyRedirects, NotFetchable, and net.http1's Broken
        and WaitedTooLong."""
        url = prepared_url(url)
        redirects: list[int] = []
        cookies: dict[tuple[str, str], str] = {}
        while True:
            host = (urlsplit(url).hostname or "").lower()
            asked = {**self._headers, **headers}
            if cookie := _cookie_header(cookies, host):
                asked["Cookie"] = cookie
            answer = await self._once(url, asked, hops)
            location = answer.head.headers.get("location")
            if answer.head.status not in REDIRECTS or location is None:
                answer.redirects = tuple(redirects)
                return answer
            # Its body is not read: a redirect needs none, and a hostile one could be endless.
            answer.discard()
            redirects.append(answer.head.status)
            if len(redirects) > max_redirects:
                raise TooManyRedirects(f"Exceeded {max_redirects} redirects.")
            _remember(cookies, host, answer.head.set_cookies)
            url = _redirect_url(url, _as_text(location))

    async def _once(self, url: str, headers: Mapping[str, str], hops: FeedHops) -> Answer:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise BlockedAddress(f"{url}: only http(s) URLs are fetched")
        host, port = parts.hostname, parts.port or DEFAULT_PORTS[scheme]
        authority = parts.netloc.rsplit("@", 1)[-1]
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        proxy = self._proxy_for(url)
        extra: list[tuple[str, str]] = []
        if proxy is not None:
            hops.proxied()
            proxy_parts = urlsplit(proxy)
            if proxy_parts.scheme.lower() != "http" or not proxy_parts.hostname:
                raise NotFetchable(f"only http:// proxies carry feeds, not {proxy}")
            proxy_at = (proxy_parts.hostname, proxy_parts.port or 80)
            extra = _proxy_authorization(proxy_parts.username, proxy_parts.password)
            if scheme == "http":
                key: tuple[object, ...] = ("proxy", *proxy_at)
                opening = partial(self._through_proxy, proxy_at)
                target = url.split("#", 1)[0]
                headers = {**headers, **dict(extra)}
            else:
                key = ("tunnel", *proxy_at, host, port)
                opening = partial(self._tunnelled, proxy_at, f"{host}:{port}", extra, host)
        else:
            address = await _address_for(hops, host, port)
            key = (scheme, host, port, address)
            opening = partial(connect, address, port, self.wait, self._context(scheme), host)
        request = [("Host", authority), *headers.items()]
        connection = self._pool.take(key)
        if connection is not None:
            try:
                head = await connection.send(target, request)
                return Answer(head, url, (), connection, key, self._pool)
            except Broken:
                connection.close()  # the server closed it as it lay idle: a new one
            except BaseException:
                connection.close()
                raise
        connection = await opening()
        try:
            head = await connection.send(target, request)
        except BaseException:
            connection.close()
            raise
        return Answer(head, url, (), connection, key, self._pool)

    async def _through_proxy(self, proxy_at: tuple[str, int]) -> Connection:
        return await connect(await _looked_up(*proxy_at), proxy_at[1], self.wait)

    async def _tunnelled(
        self,
        proxy_at: tuple[str, int],
        authority: str,
        extra: list[tuple[str, str]],
        host: str,
    ) -> Connection:
        address = await _looked_up(*proxy_at)
        context = self._context("https")
        assert context is not None
        return await tunnel(address, proxy_at[1], self.wait, authority, extra, context, host)

    def _proxy_for(self, url: str) -> str | None:
        if not self._proxies_named:
            return None
        from requests.utils import get_environ_proxies, select_proxy

        proxy = select_proxy(url, get_environ_proxies(url))
        if proxy and "://" not in proxy:
            proxy = f"http://{proxy}"
        return proxy

    def _context(self, scheme: str) -> ssl.SSLContext | None:
        if scheme != "https":
            return None
        if self._tls is None:
            bundle = ca_bundle_named()
            if bundle is None:
                import certifi

                bundle = certifi.where()
            if os.path.isdir(bundle):
                context = ssl.create_default_context(capath=bundle)
            else:
                context = ssl.create_default_context(cafile=bundle)
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls


def prepared_url(url: str) -> str:
    """The URL as requests sends it (its host IDNA-encoded, its path quoted); NotFetchable."""
    plain = _AS_SENT.fullmatch(url)
    if plain and int(plain["port"] or 1) <= 65535 and not _DOT_SEGMENT.search(url):
        return url
    import requests

    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except requests.RequestException as error:
        raise NotFetchable(str(error)) from None
    return prepared.url or url


async def _address_for(hops: FeedHops, host: str, port: int) -> str:
    if is_address(host):
        return hops.address_for(host, port)
    return await asyncio.wrap_future(aside(lambda: hops.address_for(host, port)))


async def _looked_up(host: str, port: int) -> str:
    if is_address(host):
        return host
    answers = await asyncio.wrap_future(aside(lambda: lookup(host, port, None)))
    return str(answers[0][4][0])


def _proxy_authorization(user: str | None, password: str | None) -> list[tuple[str, str]]:
    if not user:
        return []
    pair = f"{unquote(user)}:{unquote(password or '')}".encode("latin-1")
    return [("Proxy-Authorization", f"Basic {base64.b64encode(pair).decode('ascii')}")]


def _as_text(location: str) -> str:
    """A Location header as requests reads it: its Latin-1 letters are UTF-8 bytes."""
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location


def _redirect_url(current: str, location: str) -> str:
    """Where `location` leads from `current`, as requests resolves it."""
    from requests.utils import requote_uri

    if location.startswith("//"):
        location = f"{urlsplit(current).scheme}:{location}"
    if not urlsplit(location).netloc:
        return urljoin(current, requote_uri(location))
    return requote_uri(location)


def _remember(cookies: dict[tuple[str, str], str], host: str, set_cookies: tuple[str, ...]) -> None:
    """The cookies a redirect set, by the domain they go back to."""
    if not set_cookies:
        return
    from http.cookies import CookieError, SimpleCookie

    for value in set_cookies:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value)
        except CookieError:
            continue
        for name, morsel in jar.items():
            domain = morsel["domain"].lstrip(".").lower()
            if domain and not f".{host}".endswith(f".{domain}"):
                continue  # a cookie for another site, which no client keeps
            cookies[(f".{domain}" if domain else host, name)] = morsel.value


def _cookie_header(cookies: dict[tuple[str, str], str], host: str) -> str:
    """The chain's cookies for `host`: a host's own, and a domain's for it and below."""
    return "; ".join(
        f"{name}={value}"
        for (domain, name), value in cookies.items()
        if domain == host or (domain.startswith(".") and f".{host}".endswith(domain))
    )
