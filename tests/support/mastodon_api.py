"""A small but faithful fake of the Mastodon client API, on loopback, for tests.

Behaviour follows /work/shared/MASTODON-RULES.md (Mastodon 4.3-ish) and returns JSON that
Mastodon.py 2.3.3 parses into its ``Status``, ``Account``, ``InstanceV2``, ``MediaAttachment``
objects. Usage::

    with MastodonAPI() as api:
        m = Mastodon(access_token="test-token", api_base_url=api.base_url,
                     version_check_mode="none", ratelimit_method="throw", request_timeout=5)
        m.status_post("hello", idempotency_key="k1")
        assert len(api.statuses) == 1

Endpoints
---------
=======================================  ==================================================
GET  /api/v2/instance                    ``instance_api == "v2"`` only (else 404)
GET  /api/v1/instance                    "v2"/"v1": configuration.statuses;
                                         "max_toot_chars": top-level max_toot_chars; "none": 404
GET  /api/v1/accounts/verify_credentials token + read:accounts (or read / profile)
GET  /api/v1/accounts/:id/statuses       newest first; limit (20, max 40), max_id, since_id,
                                         min_id, exclude_replies, only_media; Link header
GET  /api/v1/statuses/:id                404 ``{"error": "Record not found"}`` if unknown
DELETE /api/v1/statuses/:id              token + write:statuses; the deleted status with
                                         ``text``; 404 if unknown (or deleted already);
                                         ``delete_media`` (4.4) removes its media too
DELETE /api/v1/media/:id                 4.4: an upload no status uses; 422 if one does
PATCH /api/v1/accounts/update_credentials  4.4: ``attribution_domains[]`` (10 at most)
GET  /api/v1/statuses/:id/context        ancestors [] and descendants: the replies added
                                         with ``add_reply`` (every visibility: the token's
                                         owner is addressed by all of them), oldest first
POST /api/v1/statuses                    form or JSON; token + write:statuses; Idempotency-Key
PUT  /api/v1/statuses/:id                edit: text, spoiler, media (left out: cleared),
                                         language if given; sets edited_at; 404 if unknown
DELETE /api/v1/statuses/:id              moves it to ``deleted``; 404 if unknown or gone
POST /api/v2/media, POST /api/v1/media   multipart; 200 with url, or 202 url=null while
                                         ``media_processing_polls`` > 0 (v1 always 200)
GET  /api/v1/media/:id                   206 while processing, then 200
POST /api/v1/apps                        client_id / client_secret
GET  /oauth/authorize                    HTML page showing ``valid_auth_code`` (if params ok)
POST /oauth/token                        authorization_code (single use) / client_credentials
POST /oauth/revoke                       removes the token (the app's credentials needed)
GET  /.well-known/oauth-authorization-server   if ``oauth_server_metadata`` (Mastodon >= 4.3)
=======================================  ==================================================

``MastodonAPI(release="4.2" | "4.3" | "4.4" | "4.5")`` (default 4.3) answers as that release:
support.mastodon_recent says what each adds (PKCE, quote policies, Deprecation, ...).

Every answer carries ``X-RateLimit-Limit/Remaining/Reset`` (Reset in ISO 8601, from a per-token
fixed 5-minute window of ``request_limit`` requests); statuses are limited to ``status_limit``
per token (an account, as Mastodon counts them) and fixed 3-hour window. Both answer 429
``{"error": "Too many requests"}`` with Remaining 0.

Faults (``api.fail_next(method, path, kind, *, times=1, **params)``)
----------------------------------------------------------------------
``method`` is an HTTP method or "*"; ``path`` a path or an fnmatch pattern ("/api/v1/media/*");
trailing slashes are ignored. Each queued fault fires on the next ``times`` matching requests,
first queued first. The request is always recorded in ``api.requests``.

=========================  ==========================================================  =======
kind                       what the server does                                        creates
=========================  ==========================================================  =======
``500`` (any int), or      answer that code; body ``{"error": message}`` when a        no
"status" + code=, message  message is given or the code is 4xx (default messages),
                           else an HTML error page like nginx/Rails (5xx)
"rate_limit", reset_in=300 429 ``{"error": "Too many requests"}``, X-RateLimit-Remaining  no
                           0, X-RateLimit-Reset = now + reset_in (ISO 8601)
"drop_after_create"        handle normally (status/media created, key remembered),     yes
                           then close the connection without answering
"drop"                     close the connection (FIN) without answering or handling    no
"reset"                    reset the connection (RST) without answering or handling    no
"delay", seconds=,         create=True: handle at once, answer after ``seconds``       yes
create=True                create=False: wait ``seconds``, then close with no answer   no
"forget_idempotency"       handle normally but ignore a remembered Idempotency-Key,    yes
                           so a repeat creates a second status
"drip", interval=1.0       handle normally, then send the answer's body one byte       yes
                           every ``interval`` seconds
"garbled"                  handle normally, then answer 200 with a body that is not    yes
                           JSON
"huge", size=400_000_000   answer 200 declaring a ``size``-byte body, then send        no
                           bytes until the client goes away
=========================  ==========================================================  =======
"""

from __future__ import annotations

import fnmatch
import html
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from ._http import LoopbackServer, drop_connection, read_body, reset_connection, send
from .mastodon_recent import RELEASES, RecentMastodon

__all__ = ["INSTANCE_APIS", "Fault", "MastodonAPI", "default_length"]

INSTANCE_APIS = ("v2", "v1", "max_toot_chars", "none")

_ISO_639_1_CODES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv "
    "cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gu gv ha he hi ho hr ht "
    "hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky "
    "la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny "
    "oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sn so sq sr ss st "
    "su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za "
    "zh zu"
)
_ISO_639_1 = set(_ISO_639_1_CODES.split())
_ISO_639_3_CODES = "ast chr ckb cnr jbo kab ldn lfn sco sma smj szl tok xal zba zgh"
_ISO_639_3 = set(_ISO_639_3_CODES.split())
_REGIONAL = {"zh-CN", "zh-HK", "zh-TW", "zh-YUE"}
SUPPORTED_LANGUAGES = frozenset(_ISO_639_1 | _ISO_639_3 | _REGIONAL)

_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_URL_TRAILING = ".,!?:;"
_HASHTAG_RE = re.compile(r"(?:(?<=\s)|^)#([\w\u0300-\u036f\u00b7\u30fb\u200c]+)", re.UNICODE)
_TOKEN_RE = re.compile(_URL_RE.pattern + "|" + _HASHTAG_RE.pattern, re.IGNORECASE | re.UNICODE)

_SUPPORTED_MIME = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wave",
    "audio/vnd.wave",
    "audio/ogg",
    "audio/vorbis",
    "audio/mpeg",
    "audio/mp3",
    "audio/webm",
    "audio/flac",
    "audio/aac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
    "audio/3gpp",
    "video/x-ms-asf",
]

_DEFAULT_MESSAGES = {
    400: "Bad request",
    401: "The access token is invalid",
    403: "This action is not allowed",
    404: "Record not found",
    409: "Conflict",
    410: "Gone",
    422: "Validation failed: Text can't be blank",
    429: "Too many requests",
}

_FAULT_KINDS = {
    "status",
    "drip",
    "garbled",
    "huge",
    "rate_limit",
    "drop_after_create",
    "drop",
    "reset",
    "delay",
    "forget_idempotency",
}

_ALL_SCOPES = frozenset({"read", "write", "follow", "push", "profile"})


def _iso(ts: float, *, millis: bool = True) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _truthy(value: Any) -> bool | None:
    """Rails' boolean casting: "0", "f", "false", "off" (any case) are false, "" is nil."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in {"0", "f", "false", "off"}


def default_length(text: str, spoiler: str, characters_reserved_per_url: int = 23) -> int:
    """Rough Mastodon count: ``len()`` with each http(s) URL counted as the reserved width.

    Not grapheme-aware and counts every http(s) URL (also localhost/IPs); inject
    ``crossposter.compose.length`` through ``api.length_of`` for the exact rule.
    """
    text = (text or "").strip()
    spoiler = (spoiler or "").strip()
    count = 0
    pos = 0
    for m in _URL_RE.finditer(text):
        url = m.group(0).rstrip(_URL_TRAILING)
        count += m.start() - pos + characters_reserved_per_url
        pos = m.start() + len(url)
    count += len(text) - pos
    return count + len(spoiler)


def _tag_name(raw: str) -> str | None:
    name = raw.rstrip("\u00b7\u30fb\u200c")
    return name if any(c.isalpha() for c in name) else None


@dataclass
class Fault:
    method: str
    path: str
    kind: str
    times: int = 1
    code: int | None = None
    message: str | None = None
    reset_in: float = 300.0
    seconds: float = 0.0
    create: bool = True
    interval: float = 1.0
    size: int = 400_000_000

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return fnmatch.fnmatchcase(path, self.path.rstrip("/") or "/")


@dataclass
class _Request:
    handler: BaseHTTPRequestHandler
    method: str
    path: str
    query: dict[str, Any]
    form: dict[str, Any]
    files: dict[str, tuple[str, str, bytes]]
    token: str | None
    fault: Fault | None


@dataclass
class _Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes
    headers: list[tuple[str, str]] | None = None
    content_type: str = "application/json; charset=utf-8"


def _send_endless(handler: BaseHTTPRequestHandler, size: int) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(size))
    handler.end_headers()
    handler.close_connection = True
    piece = b" " * 65536
    try:
        for _ in range(0, size, len(piece)):
            handler.wfile.write(piece)
    except OSError:
        return  # the client refused the body, as it should


def _error(status: int, message: str | None = None, **extra: Any) -> _Response:
    body = {"error": message or _DEFAULT_MESSAGES.get(status, "Error")}
    body.update(extra)
    return _Response(status, body)


def _parse_params(pairs: dict[str, list[str]]) -> dict[str, Any]:
    """Rails-ish: ``key[]`` becomes a list under ``key``; other keys keep their last value."""
    out: dict[str, Any] = {}
    for key, values in pairs.items():
        if key.endswith("[]"):
            out.setdefault(key[:-2], []).extend(values)
        else:
            out[key] = values[-1]
    return out


def _parse_multipart(content_type: str, body: bytes):
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    if not msg.is_multipart():
        return fields, files
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is not None:
            files[name] = (filename, part.get_content_type(), payload)
        else:
            fields.setdefault(name, []).append(payload.decode("utf-8"))
    return fields, files


class MastodonAPI(RecentMastodon, LoopbackServer):
    """Fake Mastodon server. See the module docstring for endpoints and faults.

    Attributes tests use:
      base_url, statuses (list of dicts, oldest first; each has the Mastodon JSON fields plus
      ``text`` as sent, ``idempotency_key``, ``media_ids``, ``token``), media (dict id -> dict),
      requests [(method, path, headers)], count(method, path), errors (server crashes),
      valid_tokens (set), token_scopes (token -> set; tokens absent here have every scope),
      max_characters, characters_reserved_per_url, max_media_attachments, description_limit,
      instance_api ("v2" | "v1" | "max_toot_chars" | "none"), version, idempotency_window,
      clock_offset / advance(s) / now(), length_of(text, spoiler) -> int,
      media_processing_polls, request_limit, status_limit, default_language, username,
      apps (client_id -> app dict), valid_auth_code, auth_code_single_use,
      oauth_server_metadata, domain, faults (list of Fault), fail_next(...), clear_faults().
    """

    def __init__(
        self,
        *,
        max_characters: int = 500,
        characters_reserved_per_url: int = 23,
        instance_api: str = "v2",
        valid_tokens: set[str] | None = None,
        idempotency_window: float = 3600.0,
        now: Callable[[], float] | None = None,
        username: str = "bot",
        default_language: str = "en",
        media_processing_polls: int = 0,
        request_limit: int = 300,
        status_limit: int = 300,
        version: str | None = None,
        release: str = "4.3",
    ) -> None:
        super().__init__()
        if instance_api not in INSTANCE_APIS:
            raise ValueError(f"instance_api must be one of {INSTANCE_APIS}")
        if now is not None:
            self._now_fn = now
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self.max_media_attachments = 4
        self.description_limit = 1500
        self.instance_api = instance_api
        self.version = version
        self.valid_tokens: set[str] = (
            set(valid_tokens) if valid_tokens is not None else {"test-token"}
        )
        self.token_scopes: dict[str, set[str]] = {}
        self.idempotency_window = idempotency_window
        self.username = username
        self.default_language = default_language
        self.media_processing_polls = media_processing_polls
        self.request_limit = request_limit
        self.status_limit = status_limit
        self.length_of: Callable[[str, str], int] = self.default_length_of
        self.statuses: list[dict[str, Any]] = []
        # Statuses removed by DELETE /api/v1/statuses/:id, in order.
        self.deleted: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.apps: dict[str, dict[str, Any]] = {}
        self.valid_auth_code = "good-code"
        self.auth_code_single_use = True
        self.faults: list[Fault] = []
        self.account_id = "1"
        # The instance's own name in its documents (`domain`, v1 `uri`); its host when None.
        self.domain: str | None = None
        # The account's picture, served at its `avatar_static` address (404 when None).
        self.avatar: bytes | None = None
        self._created_at = time.time() - 86400 * 30
        self._ids = itertools.count(1)
        self._idempotency: dict[str, tuple[str, float]] = {}
        self._in_flight: set[str] = set()
        self._used_codes: set[str] = set()
        self._request_windows: dict[str, tuple[int, int]] = {}
        # Per token (an account here): Mastodon counts new statuses per account.
        self._status_windows: dict[str | None, tuple[int, int]] = {}
        # Replies by other people (add_reply), apart from the account's own statuses.
        self.replies: list[dict[str, Any]] = []
        # What 4.3-4.5 added, and what the release answers (support.mastodon_recent).
        self._init_release(release)

    # -- public helpers ----------------------------------------------------------------
    def default_length_of(self, text: str, spoiler: str) -> int:
        return default_length(text, spoiler, self.characters_reserved_per_url)

    def fail_next(self, method: str, path: str, kind: int | str, *, times: int = 1, **params: Any):
        """Queue a fault (see the module docstring's table). Returns the Fault."""
        code = params.pop("code", None)
        if isinstance(kind, int) or (isinstance(kind, str) and kind.isdigit()):
            code, kind = int(kind), "status"
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(_FAULT_KINDS)}")
        if kind == "status" and code is None:
            raise ValueError("fault kind 'status' needs code=")
        unknown = set(params) - {"message", "reset_in", "seconds", "create", "interval", "size"}
        if unknown:
            raise TypeError(f"unknown fault parameters {sorted(unknown)}")
        fault = Fault(method.upper(), path, kind, times=times, code=code, **params)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def status_texts(self) -> list[str]:
        """The ``text`` of every created status, oldest first."""
        return [s["text"] for s in self.statuses]

    def add_status(self, text: str, **fields: Any) -> dict[str, Any]:
        """Create a status directly (e.g. one posted by an earlier run) without HTTP."""
        with self.lock:
            return self._create_status(
                text=text,
                spoiler_text=fields.pop("spoiler_text", ""),
                visibility=fields.pop("visibility", "public"),
                language=fields.pop("language", self.default_language),
                sensitive=fields.pop("sensitive", False),
                idempotency_key=fields.pop("idempotency_key", None),
                media=[],
                token=None,
                in_reply_to_id=fields.pop("in_reply_to_id", None),
                extra=fields,
            )

    def add_reply(
        self,
        to_id: str,
        text: str,
        *,
        visibility: str = "public",
        acct: str = "alice@elsewhere.example",
        display_name: str = "Alice",
    ) -> dict[str, Any]:
        """A reply by someone else to status (or reply) ``to_id``, for /context."""
        with self.lock:
            sid = str(120_000_000_000_000_000 + next(self._ids))
            content, tags = self._render(text)
            username = acct.split("@")[0]
            reply = {
                "id": sid,
                "created_at": _iso(self.now()),
                "in_reply_to_id": to_id,
                "in_reply_to_account_id": self.account_id,
                "sensitive": False,
                "spoiler_text": "",
                "visibility": visibility,
                "language": "en",
                "uri": f"https://elsewhere.example/users/{username}/statuses/{sid}",
                "url": f"https://elsewhere.example/@{username}/{sid}",
                "replies_count": 0,
                "reblogs_count": 0,
                "favourites_count": 0,
                "edited_at": None,
                "content": content,
                "reblog": None,
                "mentions": [],
                "tags": tags,
                "emojis": [],
                "media_attachments": [],
                "card": None,
                "poll": None,
                "account": {
                    **self.account_json(),
                    "id": f"9{sid[-6:]}",
                    "username": username,
                    "acct": acct,
                    "display_name": display_name,
                    "bot": False,
                    "url": f"https://elsewhere.example/@{username}",
                    "avatar": f"https://elsewhere.example/avatars/{username}.png",
                },
            }
            for status in (*self.statuses, *self.replies):
                if status["id"] == to_id:
                    status["replies_count"] += 1
            self.replies.append(reply)
            return reply

    def grant_token(self, token: str, scopes: set[str] | str | None = None) -> None:
        """Make ``token`` valid, optionally limited to ``scopes`` ("write:statuses read")."""
        if isinstance(scopes, str):
            scopes = set(scopes.split())
        with self.lock:
            self.valid_tokens.add(token)
            if scopes is not None:
                self.token_scopes[token] = set(scopes)

    # -- JSON entities -----------------------------------------------------------------
    def account_json(self, *, credentials: bool = False) -> dict[str, Any]:
        base = self.base_url
        last = self.statuses[-1]["created_at"][:10] if self.statuses else None
        acc: dict[str, Any] = {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "display_name": "Test bot",
            "locked": False,
            "bot": True,
            "discoverable": True,
            "indexable": False,
            "group": False,
            "created_at": _iso(self._created_at),
            "note": "<p>A test bot</p>",
            "url": f"{base}/@{self.username}",
            "uri": f"{base}/users/{self.username}",
            "avatar": f"{base}/avatars/original/missing.png",
            "avatar_static": f"{base}/avatars/original/missing.png",
            "header": f"{base}/headers/original/missing.png",
            "header_static": f"{base}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(self.statuses),
            "last_status_at": last,
            "hide_collections": False,
            "noindex": False,
            "emojis": [],
            "roles": [],
            "fields": [],
        }
        if credentials:
            acc["source"] = {
                "privacy": "public",
                "sensitive": False,
                "language": self.default_language,
                "note": "A test bot",
                "fields": [],
                "follow_requests_count": 0,
                "hide_collections": False,
                "discoverable": True,
                "indexable": False,
                **self.credential_source(),
            }
            acc["role"] = {
                "id": "-99",
                "name": "",
                "permissions": "0",
                "color": "",
                "highlighted": False,
            }
        return acc

    def _render(self, text: str) -> tuple[str, list[dict[str, str]]]:
        """Plain text -> Mastodon-like HTML (links with invisible/ellipsis spans, hashtags)."""
        base = self.base_url
        tags: dict[str, dict[str, str]] = {}

        def render_inline(chunk: str) -> str:
            out = []
            pos = 0
            for m in _TOKEN_RE.finditer(chunk):
                token = m.group(0)
                if token.startswith("#"):
                    name = _tag_name(token[1:])
                    if not name:
                        continue
                    out.append(html.escape(chunk[pos : m.start()], quote=False))
                    key = name.lower()
                    tags.setdefault(key, {"name": key, "url": f"{base}/tags/{key}"})
                    out.append(
                        f'<a href="{base}/tags/{html.escape(key)}" class="mention hashtag" '
                        f'rel="tag">#<span>{html.escape(name)}</span></a>'
                    )
                    pos = m.start() + 1 + len(name)
                    continue
                url = token.rstrip(_URL_TRAILING)
                out.append(html.escape(chunk[pos : m.start()], quote=False))
                prefix = re.match(r"https?://(?:www\.)?", url, re.IGNORECASE).group(0)
                rest = url[len(prefix) :]
                if len(rest) > 30:
                    shown = (
                        f'<span class="ellipsis">{html.escape(rest[:30])}</span>'
                        f'<span class="invisible">{html.escape(rest[30:])}</span>'
                    )
                else:
                    shown = (
                        f'<span class="">{html.escape(rest)}</span><span class="invisible"></span>'
                    )
                out.append(
                    f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" '
                    f'translate="no"><span class="invisible">{html.escape(prefix)}</span>'
                    f"{shown}</a>"
                )
                pos = m.start() + len(url)
            out.append(html.escape(chunk[pos:], quote=False))
            return "".join(out)

        paragraphs = [p for p in re.split(r"\n\s*\n+", text.strip()) if p.strip()]
        rendered = "".join(
            "<p>" + "<br />".join(render_inline(line) for line in p.split("\n")) + "</p>"
            for p in paragraphs
        )
        return rendered, list(tags.values())

    def _media_json(self, media: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in media.items() if not k.startswith("_")}

    def status_json(self, status: dict[str, Any]) -> dict[str, Any]:
        out = {
            k: v
            for k, v in status.items()
            if k not in ("text", "idempotency_key", "media_ids", "token")
        }
        out.pop("quote_approval_policy", None)
        out["account"] = self.account_json()
        out["media_attachments"] = [
            self._media_json(self.media[i]) for i in status["media_ids"] if i in self.media
        ]
        out["card"] = self.card_json(status)
        out.update(self.quote_json(status))
        return out

    # -- state changes (call with self.lock held) ---------------------------------------
    def _create_status(
        self,
        *,
        text,
        spoiler_text,
        visibility,
        language,
        sensitive,
        idempotency_key,
        media,
        token,
        in_reply_to_id=None,
        extra=None,
    ) -> dict[str, Any]:
        sid = str(110_000_000_000_000_000 + next(self._ids))
        content, tags = self._render(text)
        base = self.base_url
        status: dict[str, Any] = {
            "id": sid,
            "created_at": _iso(self.now()),
            "in_reply_to_id": in_reply_to_id,
            "in_reply_to_account_id": self.account_id if in_reply_to_id else None,
            "sensitive": bool(sensitive),
            "spoiler_text": spoiler_text,
            "visibility": visibility,
            "language": language,
            "uri": f"{base}/users/{self.username}/statuses/{sid}",
            "url": f"{base}/@{self.username}/{sid}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": content,
            "filtered": [],
            "reblog": None,
            "application": {"name": "crossposter-tests", "website": None},
            "mentions": [],
            "tags": tags,
            "emojis": [],
            "card": None,
            "poll": None,
            "text": text,
            "idempotency_key": idempotency_key,
            "media_ids": [m["id"] for m in media],
            "token": token,
        }
        if extra:
            status.update(extra)
        for m in media:
            m["_status_id"] = sid
        self.statuses.append(status)
        return status

    # -- HTTP ---------------------------------------------------------------------------
    def dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        method, raw_path = self.record(handler)
        path = raw_path.rstrip("/") or "/"
        body = read_body(handler)
        fault = self._take_fault(method, path)

        if fault is not None and fault.kind == "drop":
            return drop_connection(handler)
        if fault is not None and fault.kind == "reset":
            return reset_connection(handler)
        if fault is not None and fault.kind == "delay" and not fault.create:
            self.sleep(fault.seconds)
            return drop_connection(handler)
        if fault is not None and fault.kind == "huge":
            return _send_endless(handler, fault.size)

        token = None
        auth = handler.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()

        rl_headers, throttled = self._count_request(token or handler.client_address[0])
        if fault is not None and fault.kind == "status":
            resp = self._fault_response(fault)
        elif fault is not None and fault.kind == "rate_limit":
            reset = _iso(self.now() + fault.reset_in, millis=False)
            rl_headers = [
                ("X-RateLimit-Limit", str(self.request_limit)),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", reset),
            ]
            resp = _error(429)
        elif throttled:
            resp = _error(429)
        else:
            query = _parse_params(parse_qs(urlsplit(handler.path).query, keep_blank_values=True))
            ctype = handler.headers.get("Content-Type") or ""
            form: dict[str, Any] = {}
            files: dict[str, tuple[str, str, bytes]] = {}
            if ctype.startswith("application/json") and body:
                try:
                    form = json.loads(body)
                except ValueError:
                    form = None  # type: ignore[assignment]
                if not isinstance(form, dict):
                    resp = _error(400, "Error while parsing request body")
                    return self._send(handler, resp, rl_headers)
            elif ctype.startswith("multipart/form-data"):
                fields, files = _parse_multipart(ctype, body)
                form = _parse_params(fields)
            elif body:
                form = _parse_params(parse_qs(body.decode("utf-8"), keep_blank_values=True))
            req = _Request(handler, method, path, query, form, files, token, fault)
            resp = self._route(req)

        if fault is not None and fault.kind == "drop_after_create":
            return drop_connection(handler)
        if fault is not None and fault.kind == "delay":
            self.sleep(fault.seconds)
        if fault is not None and fault.kind == "garbled":
            resp = _Response(200, b"<html>Status created</html>", content_type="text/html")
        if fault is not None and fault.kind == "drip":
            return self._drip(handler, resp, rl_headers, fault.interval)
        self._send(handler, resp, rl_headers)

    def _drip(self, handler, resp: _Response, rl_headers, interval: float) -> None:
        body = json.dumps(resp.body).encode() if not isinstance(resp.body, bytes) else resp.body
        handler.send_response(resp.status)
        for name, value in [*rl_headers, ("Content-Type", resp.content_type)]:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.close_connection = True
        for index in range(len(body)):
            self.sleep(interval)
            try:
                handler.wfile.write(body[index : index + 1])
                handler.wfile.flush()
            except OSError:
                return  # the client gave up, as it should

    def _send(self, handler, resp: _Response, rl_headers) -> None:
        headers = list(rl_headers) + list(resp.headers or [])
        headers += self.deprecation_headers(urlsplit(handler.path).path)
        if isinstance(resp.body, bytes):
            body = resp.body
        elif resp.body is None:
            body = b""
        else:
            body = json.dumps(resp.body).encode()
        headers.append(("Content-Type", resp.content_type))
        send(handler, resp.status, body, headers)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _fault_response(self, fault: Fault) -> _Response:
        code = fault.code or 500
        if fault.message is not None or code < 500:
            return _error(code, fault.message)
        page = f"<html><head><title>{code}</title></head><body><h1>{code}</h1></body></html>"
        return _Response(code, page.encode(), content_type="text/html; charset=utf-8")

    def _count_request(self, who: str) -> tuple[list[tuple[str, str]], bool]:
        period = 300
        now = self.now()
        window = int(now // period)
        with self.lock:
            w, n = self._request_windows.get(who, (window, 0))
            if w != window:
                w, n = window, 0
            n += 1
            self._request_windows[who] = (w, n)
        remaining = max(self.request_limit - n, 0)
        headers = [
            ("X-RateLimit-Limit", str(self.request_limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", _iso((window + 1) * period, millis=False)),
        ]
        return headers, n > self.request_limit

    def _auth(self, req: _Request, *scopes: str) -> _Response | None:
        """None if the token is valid and has one of ``scopes`` (or its top-level parent)."""
        if req.token is None or req.token not in self.valid_tokens:
            return _error(401, "The access token is invalid")
        granted = self.token_scopes.get(req.token)
        if granted is None or not scopes:
            return None
        for scope in scopes:
            if scope in granted or scope.split(":")[0] in granted:
                return None
        return _error(403, "This action is outside the authorized scopes")

    def _owner(self, req: _Request) -> bool:
        return req.token is not None and req.token in self.valid_tokens

    _ROUTES: ClassVar[list[tuple[str, re.Pattern[str], str]]] = [
        (m, re.compile(p + r"\Z"), name)
        for m, p, name in [
            ("GET", r"/api/v2/instance", "instance_v2"),
            ("GET", r"/api/v1/instance", "instance_v1"),
            ("GET", r"/api/v1/accounts/verify_credentials", "verify_credentials"),
            ("GET", r"/api/v1/accounts/(?P<id>[^/]+)/statuses", "account_statuses"),
            ("GET", r"/api/v1/accounts/(?P<id>[^/]+)", "account"),
            ("POST", r"/api/v1/statuses", "post_status"),
            ("GET", r"/api/v1/statuses/(?P<id>[^/]+)", "get_status"),
            ("PUT", r"/api/v1/statuses/(?P<id>[^/]+)", "update_status"),
            ("DELETE", r"/api/v1/statuses/(?P<id>[^/]+)", "delete_status"),
            ("POST", r"/api/v2/media", "post_media_v2"),
            ("POST", r"/api/v1/media", "post_media_v1"),
            ("GET", r"/api/v1/media/(?P<id>[^/]+)", "get_media"),
            ("DELETE", r"/api/v1/media/(?P<id>[^/]+)", "delete_media"),
            ("PATCH", r"/api/v1/accounts/update_credentials", "update_credentials"),
            ("POST", r"/api/v1/apps", "create_app"),
            ("GET", r"/oauth/authorize", "authorize"),
            ("POST", r"/oauth/token", "token"),
            ("POST", r"/oauth/revoke", "revoke"),
            ("GET", r"/\.well-known/oauth-authorization-server", "oauth_metadata"),
            ("GET", r"/api/v1/statuses/(?P<id>[^/]+)/context", "status_context"),
            ("GET", r"/avatars/original/missing\.png", "avatar"),
        ]
    ]

    def _route(self, req: _Request) -> _Response:
        method = "GET" if req.method == "HEAD" else req.method
        path_known = False
        for m, pattern, name in self._ROUTES:
            match = pattern.match(req.path)
            if match is None:
                continue
            path_known = True
            if m == method:
                return getattr(self, "_h_" + name)(req, **match.groupdict())
        if path_known:
            return _error(405, "Method not allowed")
        return (
            _error(404, "Record not found")
            if req.path.startswith("/api/")
            else _Response(
                404,
                b"<html><body>The page you are looking for isn't here.</body></html>",
                content_type="text/html; charset=utf-8",
            )
        )

    # -- instance ----------------------------------------------------------------------
    def _version(self) -> str:
        if self.version:
            return self.version
        return {
            "v2": RELEASES[self.release][0],
            "v1": "3.5.3",
            "max_toot_chars": "2.7.2 (compatible; Pleroma 2.5.0)",
        }.get(self.instance_api, "4.3.2")

    def _statuses_config(self) -> dict[str, int]:
        return {
            "max_characters": self.max_characters,
            "max_media_attachments": self.max_media_attachments,
            "characters_reserved_per_url": self.characters_reserved_per_url,
        }

    def _media_config(self) -> dict[str, Any]:
        # description_limit is published from Mastodon 4.4 (api_versions 3 and above).
        published = {"description_limit": self.description_limit} if self.at_least(3) else {}
        return {
            "supported_mime_types": list(_SUPPORTED_MIME),
            **published,
            "image_size_limit": 16777216,
            "image_matrix_limit": 33177600,
            "video_size_limit": 103809024,
            "video_frame_rate_limit": 120,
            "video_matrix_limit": 8294400,
        }

    def _h_instance_v2(self, req: _Request) -> _Response:
        if self.instance_api != "v2":
            return _error(404, "Record not found")
        base = self.base_url
        return _Response(
            200,
            {
                "domain": self.domain or self.host,
                "title": "Test instance",
                "version": self._version(),
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "A fake Mastodon server for tests",
                "usage": {"users": {"active_month": 1}},
                "thumbnail": {"url": f"{base}/packs/media/images/preview.png"},
                "icon": [],
                "languages": [self.default_language],
                "configuration": {
                    "urls": {"streaming": f"ws://{self.host}:{self.port}", "status": None},
                    "vapid": {"public_key": "BKey"},
                    "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                    "statuses": self._statuses_config(),
                    "media_attachments": self._media_config(),
                    "polls": {
                        "max_options": 4,
                        "max_characters_per_option": 50,
                        "min_expiration": 300,
                        "max_expiration": 2629746,
                    },
                    "translation": {"enabled": False},
                },
                "registrations": {
                    "enabled": False,
                    "approval_required": False,
                    "message": None,
                    "url": None,
                },
                **(
                    {"api_versions": {"mastodon": self.api_version}}
                    if self.api_version is not None
                    else {}
                ),
                "contact": {"email": "admin@example.org", "account": None},
                "rules": [],
            },
        )

    def _h_instance_v1(self, req: _Request) -> _Response:
        if self.instance_api == "none":
            return _error(404, "Record not found")
        body: dict[str, Any] = {
            "uri": self.domain or self.host,
            "title": "Test instance",
            "short_description": "A fake Mastodon server for tests",
            "description": "",
            "email": "admin@example.org",
            "version": self._version(),
            "urls": {"streaming_api": f"ws://{self.host}:{self.port}"},
            "stats": {"user_count": 1, "status_count": len(self.statuses), "domain_count": 1},
            "thumbnail": None,
            "languages": [self.default_language],
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "contact_account": None,
            "rules": [],
        }
        if self.instance_api == "max_toot_chars":
            body["max_toot_chars"] = self.max_characters
        else:
            body["configuration"] = {
                "accounts": {"max_featured_tags": 10},
                "statuses": self._statuses_config(),
                "media_attachments": self._media_config(),
                "polls": {
                    "max_options": 4,
                    "max_characters_per_option": 50,
                    "min_expiration": 300,
                    "max_expiration": 2629746,
                },
            }
        return _Response(200, body)

    # -- accounts & statuses -----------------------------------------------------------
    def _h_verify_credentials(self, req: _Request) -> _Response:
        denied = self._auth(req, "read:accounts", "profile")
        if denied:
            return denied
        with self.lock:
            return _Response(200, self.account_json(credentials=True))

    def _h_avatar(self, req: _Request) -> _Response:
        if self.avatar is None:
            return _error(404)
        return _Response(200, self.avatar, content_type="image/png")

    def _h_account(self, req: _Request, id: str) -> _Response:
        if id != self.account_id:
            return _error(404)
        with self.lock:
            return _Response(200, self.account_json())

    def _visible(self, status: dict[str, Any], owner: bool) -> bool:
        return owner or status["visibility"] in ("public", "unlisted")

    def _h_account_statuses(self, req: _Request, id: str) -> _Response:
        if id != self.account_id:
            return _error(404)
        q = req.query
        try:
            limit = min(max(int(q.get("limit") or 20), 1), 40)
        except ValueError:
            limit = 20
        owner = self._owner(req)
        with self.lock:
            items = [s for s in self.statuses if self._visible(s, owner)]
            statuses = [self.status_json(s) for s in items]
        statuses.sort(key=lambda s: int(s["id"]), reverse=True)
        if q.get("max_id"):
            statuses = [s for s in statuses if int(s["id"]) < int(q["max_id"])]
        if q.get("since_id"):
            statuses = [s for s in statuses if int(s["id"]) > int(q["since_id"])]
        if _truthy(q.get("exclude_replies")):
            statuses = [s for s in statuses if s["in_reply_to_id"] is None]
        if _truthy(q.get("only_media")):
            statuses = [s for s in statuses if s["media_attachments"]]
        if _truthy(q.get("pinned")):
            statuses = []
        if q.get("min_id"):
            newer = [s for s in statuses if int(s["id"]) > int(q["min_id"])]
            statuses = newer[-limit:]  # the ones just above min_id, still newest first
        else:
            statuses = statuses[:limit]
        headers = []
        if statuses:
            url = f"{self.base_url}/api/v1/accounts/{id}/statuses"
            nxt = urlencode({"limit": limit, "max_id": statuses[-1]["id"]})
            prv = urlencode({"limit": limit, "min_id": statuses[0]["id"]})
            headers.append(("Link", f'<{url}?{nxt}>; rel="next", <{url}?{prv}>; rel="prev"'))
        return _Response(200, statuses, headers)

    def _h_get_status(self, req: _Request, id: str) -> _Response:
        owner = self._owner(req)
        with self.lock:
            for s in self.statuses:
                if s["id"] == id and self._visible(s, owner):
                    return _Response(200, self.status_json(s))
        return _error(404)

    def _h_update_status(self, req: _Request, id: str) -> _Response:
        """PUT: what is left out is cleared, except the language (kept, as Mastodon does)."""
        denied = self._auth(req, "write:statuses")
        if denied:
            return denied
        f = req.form
        text = str(f.get("status") or "")
        media_ids = f.get("media_ids") or []
        media_ids = [str(i) for i in (media_ids if isinstance(media_ids, list) else [media_ids])]
        with self.lock:
            status = next((s for s in self.statuses if s["id"] == id), None)
            if status is None:
                return _error(404)
            spoiler = str(f.get("spoiler_text") or "")
            if self.length_of(text, spoiler) > self.max_characters:
                return _error(
                    422,
                    f"Validation failed: Text character limit of {self.max_characters} exceeded",
                )
            # Media already on this status, or uploaded and not yet attached.
            media = [
                self.media[i]
                for i in media_ids
                if i in self.media and self.media[i].get("_status_id") in (None, id)
            ]
            content, tags = self._render(text)
            status.update(
                text=text,
                content=content,
                tags=tags,
                spoiler_text=spoiler,
                sensitive=bool(_truthy(f.get("sensitive"))),
                media_ids=[m["id"] for m in media],
                edited_at=_iso(self.now()),
            )
            if f.get("language"):
                status["language"] = self._language(f.get("language"))
            for m in media:
                m["_status_id"] = id
            return _Response(200, self.status_json(status))

    def _h_delete_status(self, req: _Request, id: str) -> _Response:
        """DELETE: the status is gone; 404 for one unknown or already deleted."""
        denied = self._auth(req, "write:statuses")
        if denied:
            return denied
        with self.lock:
            status = next((s for s in self.statuses if s["id"] == id), None)
            if status is None:
                return _error(404)
            answer = {**self.status_json(status), "text": status["text"]}
            self.statuses.remove(status)
            self.deleted.append(status)
            self.drop_status_media(status, req)
            return _Response(200, answer)

    def _h_status_context(self, req: _Request, id: str) -> _Response:
        with self.lock:
            if not any(s["id"] == id for s in (*self.statuses, *self.replies)):
                return _error(404)
            thread, parents = [], {id}
            for reply in self.replies:  # oldest first: a parent comes before its replies
                if reply["in_reply_to_id"] in parents:
                    thread.append(reply)
                    parents.add(reply["id"])
            headers = self.refresh_headers(id)
            return _Response(200, {"ancestors": [], "descendants": thread}, headers)

    def _h_post_status(self, req: _Request) -> _Response:
        denied = self._auth(req, "write:statuses")
        if denied:
            return denied
        f = req.form
        key = req.handler.headers.get("Idempotency-Key")
        forget = req.fault is not None and req.fault.kind == "forget_idempotency"
        with self.lock:
            if key is not None:
                remembered = self._idempotency.get(key)
                if remembered and self.now() - remembered[1] >= self.idempotency_window:
                    del self._idempotency[key]
                    remembered = None
                if remembered and not forget:
                    for s in self.statuses:
                        if s["id"] == remembered[0]:
                            return _Response(200, self.status_json(s))
                if key in self._in_flight:
                    return _error(
                        503, "Another request with the same Idempotency-Key is in progress"
                    )
                self._in_flight.add(key)
        try:
            return self._post_status_locked(req, f, key)
        finally:
            if key is not None:
                with self.lock:
                    self._in_flight.discard(key)

    def _post_status_locked(self, req: _Request, f: dict[str, Any], key: str | None) -> _Response:
        text = str(f.get("status") or "")
        spoiler = str(f.get("spoiler_text") or "")
        media_ids = f.get("media_ids") or []
        if not isinstance(media_ids, list):
            media_ids = [media_ids]
        media_ids = [str(i) for i in media_ids]
        visibility = f.get("visibility") or "public"
        if visibility not in ("public", "unlisted", "private", "direct"):
            return _error(422, "Visibility is not included in the list")
        with self.lock:
            window = int(self.now() // 10800)
            w, n = self._status_windows.get(req.token, (window, 0))
            if w != window:
                w, n = window, 0
            if n >= self.status_limit:
                reset = _iso((window + 1) * 10800, millis=False)
                return _Response(
                    429,
                    {"error": "Too many requests"},
                    [
                        ("X-RateLimit-Limit", str(self.status_limit)),
                        ("X-RateLimit-Remaining", "0"),
                        ("X-RateLimit-Reset", reset),
                    ],
                )
            if len(media_ids) > self.max_media_attachments:
                return _error(422, f"Cannot attach more than {self.max_media_attachments} files")
            media = [
                self.media[i]
                for i in media_ids
                if i in self.media and not self.media[i].get("_status_id")
            ]
            if any(m["_polls_left"] > 0 for m in media):
                return _error(
                    422,
                    "Cannot attach files that have not finished processing. Try again in a moment!",
                )
            if not text.strip() and not media:
                return _error(422, "Validation failed: Text can't be blank")
            if self.length_of(text, spoiler) > self.max_characters:
                return _error(
                    422,
                    f"Validation failed: Text character limit of {self.max_characters} exceeded",
                )
            refusal = self.quote_policy_refusal(f)
            if refusal:
                return _error(422, refusal)
            language = self._language(f.get("language"))
            sensitive = bool(_truthy(f.get("sensitive")))
            status = self._create_status(
                text=text,
                spoiler_text=spoiler,
                visibility=visibility,
                language=language,
                sensitive=sensitive,
                idempotency_key=key,
                media=media,
                token=req.token,
                in_reply_to_id=f.get("in_reply_to_id") or None,
                # As sent: a server before 4.5 ignores it (quote_json shows what it kept).
                extra={"quote_approval_policy": f.get("quote_approval_policy")},
            )
            self._status_windows[req.token] = (w, n + 1)
            if key is not None:
                self._idempotency[key] = (status["id"], self.now())
            return _Response(200, self.status_json(status))

    def _language(self, value: Any) -> str:
        for candidate in (value, self.default_language):
            if not candidate:
                continue
            candidate = str(candidate)
            if candidate in SUPPORTED_LANGUAGES:
                return candidate
            code = re.split(r"[_-]", candidate)[0]
            if code in SUPPORTED_LANGUAGES:
                return code
        return "en"

    # -- media -------------------------------------------------------------------------
    def _h_post_media_v2(self, req: _Request, *, v1: bool = False) -> _Response:
        denied = self._auth(req, "write:media")
        if denied:
            return denied
        upload = req.files.get("file")
        if upload is None:
            return _error(422, "Validation failed: File can't be blank")
        filename, mime, data = upload
        if mime not in _SUPPORTED_MIME:
            return _error(422, "Validation failed: File content type is invalid, File is invalid")
        description = req.form.get("description")
        if description is not None and len(description) > self.description_limit:
            return _error(
                422,
                "Validation failed: Description is too long "
                f"(maximum is {self.description_limit} characters)",
            )
        polls = 0 if v1 else max(int(self.media_processing_polls), 0)
        with self.lock:
            mid = str(120_000_000_000_000_000 + next(self._ids))
            kind = mime.split("/")[0]
            kind = {
                "image": "gifv" if mime == "image/gif" else "image",
                "video": "video",
                "audio": "audio",
            }.get(kind, "unknown")
            url = f"{self.base_url}/system/media_attachments/files/{mid}/original/{filename}"
            media = {
                "id": mid,
                "type": kind,
                "url": None if polls else url,
                "preview_url": url.replace("/original/", "/small/"),
                "remote_url": None,
                "preview_remote_url": None,
                "text_url": None,
                "meta": {},
                "description": description,
                "blurhash": None,
                "_url": url,
                "_polls_left": polls,
                "_status_id": None,
                "_bytes": len(data),
                "_mime": mime,
                "_focus": req.form.get("focus"),
            }
            self.media[mid] = media
            return _Response(202 if polls else 200, self._media_json(media))

    def _h_post_media_v1(self, req: _Request) -> _Response:
        return self._h_post_media_v2(req, v1=True)

    def _h_get_media(self, req: _Request, id: str) -> _Response:
        denied = self._auth(req, "write:media", "read:statuses")
        if denied:
            return denied
        with self.lock:
            media = self.media.get(id)
            if media is None:
                return _error(404)
            if media["_polls_left"] > 0:
                media["_polls_left"] -= 1
                if media["_polls_left"] > 0:
                    return _Response(206, self._media_json(media))
            media["url"] = media["_url"]
            return _Response(200, self._media_json(media))

    # -- OAuth -------------------------------------------------------------------------
    def _h_create_app(self, req: _Request) -> _Response:
        f = req.form
        if not f.get("client_name"):
            return _error(422, "Validation failed: Application name can't be blank")
        redirect = f.get("redirect_uris") or ""
        if not redirect:
            return _error(422, "Validation failed: Redirect URI can't be blank")
        scopes = (f.get("scopes") or "read").split()
        client_id = secrets.token_urlsafe(16)
        app = {
            "id": str(len(self.apps) + 1),
            "name": f["client_name"],
            "website": f.get("website") or None,
            "scopes": scopes,
            "redirect_uri": redirect,
            "redirect_uris": redirect.split(),
            "client_id": client_id,
            "client_secret": secrets.token_urlsafe(24),
            "client_secret_expires_at": 0,
            "vapid_key": "BKey",
        }
        with self.lock:
            self.apps[client_id] = app
        return _Response(200, app)

    def _scopes_ok(self, app: dict[str, Any], requested: list[str]) -> bool:
        allowed = set(app["scopes"])
        return all(s in allowed or s.split(":")[0] in allowed for s in requested)

    def _h_authorize(self, req: _Request) -> _Response:
        q = req.query
        app = self.apps.get(q.get("client_id") or "")
        problem = None
        if app is None:
            problem = "invalid_client"
        elif q.get("redirect_uri") not in app["redirect_uris"]:
            problem = "invalid_redirect_uri"
        elif q.get("response_type") != "code":
            problem = "unsupported_response_type"
        elif not self._scopes_ok(app, (q.get("scope") or "read").split()):
            problem = "invalid_scope"
        else:
            problem = self.pkce_refusal(q)
        if problem:
            page = f"<html><body><h1>Authorization error</h1><p>{problem}</p></body></html>"
            return _Response(400, page.encode(), content_type="text/html; charset=utf-8")
        page = (
            f"<html><body><h1>Authorize {html.escape(app['name'])}</h1>"
            f'<p>Copy this code: <code id="code">{html.escape(self.valid_auth_code)}</code></p>'
            "</body></html>"
        )
        return _Response(200, page.encode(), content_type="text/html; charset=utf-8")

    def _h_token(self, req: _Request) -> _Response:
        f = req.form
        app = self.apps.get(f.get("client_id") or "")
        if app is None or f.get("client_secret") != app["client_secret"]:
            return _error(401, "invalid_client", error_description="Client authentication failed.")
        grant = f.get("grant_type")
        scope = f.get("scope") or " ".join(app["scopes"])
        if not self._scopes_ok(app, scope.split()):
            return _error(400, "invalid_scope", error_description="The requested scope is invalid.")
        with self.lock:
            if grant == "authorization_code":
                code = f.get("code")
                bad_redirect = (f.get("redirect_uri") or "") not in app["redirect_uris"]
                used = code in self._used_codes
                if code != self.valid_auth_code or used or bad_redirect or not self.pkce_holds(f):
                    return _error(
                        400,
                        "invalid_grant",
                        error_description="The provided authorization grant is invalid.",
                    )
                if self.auth_code_single_use:
                    self._used_codes.add(code)
            elif grant != "client_credentials":
                return _error(
                    400,
                    "unsupported_grant_type",
                    error_description="The grant type is not supported.",
                )
            token = "token-" + secrets.token_urlsafe(16)
            self.grant_token(token, set(scope.split()))
            self.remember_token_app(token, app["client_id"])
        return _Response(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": scope,
                "created_at": int(self.now()),
            },
        )

    def _h_oauth_metadata(self, req: _Request) -> _Response:
        if not self.oauth_server_metadata:
            return _error(404)
        base = self.base_url
        return _Response(
            200,
            {
                "issuer": base + "/",
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "revocation_endpoint": f"{base}/oauth/revoke",
                "userinfo_endpoint": f"{base}/oauth/userinfo",
                "scopes_supported": [
                    "read",
                    "write",
                    "write:statuses",
                    "write:media",
                    "read:accounts",
                    "read:statuses",
                    "write:accounts",
                    "follow",
                    "push",
                    "profile",
                ],
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "app_registration_endpoint": f"{base}/api/v1/apps",
            },
        )
