"""A PostgreSQL URL as messages may show it: never its password.

The password is found where libpq finds it, by libpq's own parsing (psycopg's
`conninfo_to_dict`): in the userinfo, which for libpq runs to the first `@` and may hold
`#` or `?` (a URL parser would end it there and show the rest), and in a `password=`
parameter. Without psycopg, only the host and database are shown.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlencode

MASK = "***"
_SCHEME = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
# What libpq keeps out of the query string when a URL is rebuilt from its fields.
_IN_NETLOC = ("user", "password", "host", "port", "dbname")


def redacted_url(url: str) -> str:
    """A PostgreSQL URL as libpq reads it, its password (in any spelling) shown as ***.

    Any other URL (a value refused by the configuration) loses everything before its
    last `@`: whatever a userinfo holds, even `#`, `?` or `/`."""
    if not _SCHEME.match(url):
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{MASK}@{rest.rpartition('@')[2]}" if "@" in rest else url
    fields = _libpq_fields(url)
    return host_and_database(url) if fields is None else _as_url(fields)


def host_and_database(url: str) -> str:
    """`postgresql://***@HOST[:PORT]/DB`: what may be shown when libpq's reading is not at
    hand (psycopg not installed, a URL it refuses); no userinfo, no query string."""
    _, netloc, dbname, _ = _split_like_libpq(url)
    return f"postgresql://{MASK}@{netloc}/{dbname}"


def without_password(text: str, url: str) -> str:
    """`text` (an error message, a log line) with the URL and every spelling of its
    password replaced by what may be shown."""
    text = text.replace(url, redacted_url(url))
    for secret in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _libpq_fields(url: str) -> dict[str, str] | None:
    try:
        # Optional: psycopg comes with the postgres extra.
        from psycopg import Error as DriverError
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return None
    try:
        return {key: str(value) for key, value in conninfo_to_dict(url).items()}
    except DriverError:  # a URL libpq refuses is shown as if psycopg were missing
        return None


def _as_url(fields: dict[str, str]) -> str:
    userinfo = quote(fields["user"], safe="") if fields.get("user") else ""
    if "password" in fields:
        userinfo += f":{MASK}"
    hosts = fields.get("host", "").split(",")
    ports = fields.get("port", "").split(",")
    extra = {key: value for key, value in fields.items() if key not in _IN_NETLOC}
    netloc = ""
    if any(host.startswith("/") for host in hosts):
        # A Unix socket's folder is no URL host: libpq takes it as a parameter.
        extra = {**{key: fields[key] for key in ("host", "port") if key in fields}, **extra}
    else:
        ports = ports * len(hosts) if len(ports) == 1 else ports
        netloc = ",".join(
            (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
            for host, port in zip(hosts, ports, strict=False)
        )
    shown = f"postgresql://{userinfo + '@' if userinfo else ''}{netloc}"
    if "dbname" in fields:
        shown += "/" + quote(fields["dbname"], safe="")
    if extra:
        shown += "?" + urlencode(extra, quote_via=quote, safe="")
    return shown


def _passwords(url: str) -> set[str]:
    """Every way the URL's password may be written in a message: as libpq reads it, and as
    the URL spells it in the userinfo and in `password=` parameters."""
    fields = _libpq_fields(url) or {}
    found = {fields.get("password", "")}
    userinfo, _, _, query = _split_like_libpq(url)
    if ":" in userinfo:
        found.add(userinfo.partition(":")[2])
    for parameter in query.split("&"):
        key, _, value = parameter.partition("=")
        if unquote(key) == "password":
            found.add(value)
    found |= {unquote(secret) for secret in found}
    found.discard("")
    return found


def _split_like_libpq(url: str) -> tuple[str, str, str, str]:
    """userinfo, netloc, dbname and query as libpq cuts them: the userinfo runs to the
    first `@` met before any `/`, whatever `#` or `?` it holds."""
    rest = _SCHEME.sub("", url, count=1)
    userinfo = ""
    credentials_end = re.search(r"[@/]", rest)
    if credentials_end and credentials_end.group() == "@":
        userinfo, rest = rest[: credentials_end.start()], rest[credentials_end.end() :]
    netloc_end = re.search(r"[/?]", rest)
    if netloc_end is None:
        return userinfo, rest, "", ""
    netloc, rest = rest[: netloc_end.start()], rest[netloc_end.start() :]
    if rest.startswith("/"):
        dbname, _, query = rest[1:].partition("?")
    else:
        dbname, query = "", rest[1:]
    return userinfo, netloc, dbname, query
