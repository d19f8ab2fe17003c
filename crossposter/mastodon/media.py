"""Getting an entry's image onto the instance: download, check, upload, wait.

Anything that goes wrong raises ImageUnavailable with a reason a person can
act on; the caller posts the toot without the image.
"""

from __future__ import annotations

import base64
import posixpath
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from crossposter.errors import ImageUnavailable
from crossposter.mastodon.client import api_request, describe_api_error
from crossposter.models import ImageRef, InstanceLimits
from crossposter.net.addresses import AddressPolicy, BlockedAddress
from crossposter.net.bounded import CutOff
from crossposter.net.limits import TooLarge
from crossposter.net.public import get_public, public_session
from crossposter.web import USER_AGENT, root_cause

MAX_REDIRECTS = 5
PUBLIC_ONLY = AddressPolicy()

# The first bytes of each image format Mastodon takes: servers often send images
# as application/octet-stream, and an error page can come back as 200 text/html.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)
_FTYP_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
}


@dataclass(frozen=True)
class ImageFile:
    data: bytes
    mime_type: str
    file_name: str


def sniff_type(data: bytes) -> str | None:
    """The image type the bytes themselves say, or None when they are no image we know."""
    for signature, offset, mime_type in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if mime_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return mime_type
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12])
    return None


def data_url(data: bytes, max_bytes: int) -> str | None:
    """The image as a `data:` URL, when its bytes say it is one and it is at most `max_bytes`."""
    kind = sniff_type(data)
    if kind is None or len(data) > max_bytes:
        return None
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


# Instances serve a 400×400 account picture; the preview page shows it 46 pixels wide.
PICTURE_MAX_BYTES = 512 * 1024


def on_instance_host(url: str, instance_url: str) -> bool:
    """Whether `url` (an account's picture) is on the configured instance's own host, which
    may be private as the instance may; a picture elsewhere (a CDN) is any URL from the
    network, held to the public-address rule."""
    return urlsplit(url).hostname == urlsplit(instance_url).hostname


def download_image(
    image: ImageRef,
    limits: InstanceLimits,
    *,
    timeout: float = 20.0,
    deadline: float = 60.0,
    stop: threading.Event | None = None,
    policy: AddressPolicy = PUBLIC_ONLY,
    session: requests.Session | None = None,
) -> ImageFile:
    """The image's bytes, once they are known to be an image the instance accepts.

    The URL comes from a feed: it may reach public addresses only (see
    crossposter.net.public) unless `policy` allows more. `timeout` bounds the
    connection and each wait for a byte, `deadline` the whole download; a set
    `stop` abandons it.
    """
    url = image.url
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ImageUnavailable(f"image {url}: only http(s) images can be fetched")
    own_session = session is None
    session = session or public_session(policy, USER_AGENT)
    session.max_redirects = MAX_REDIRECTS
    try:
        answer = get_public(
            url,
            session,
            accept="image/*",
            max_bytes=limits.image_size_limit,
            timeout=timeout,
            deadline=deadline,
            stop=stop,
        )
    except TooLarge:
        raise ImageUnavailable(
            f"image {url}: larger than the instance's {_size(limits.image_size_limit)} limit"
        ) from None
    except CutOff as error:
        raise ImageUnavailable(f"image {url}: download {error}") from None
    except BlockedAddress as error:
        raise ImageUnavailable(
            f"image {url}: {error}; feeds may point only at public addresses "
            "(allow_private_urls_in_feeds: true lifts this)"
        ) from None
    except requests.TooManyRedirects:
        raise ImageUnavailable(f"image {url}: too many redirects") from None
    except requests.RequestException as error:
        raise ImageUnavailable(f"image {url} unreachable: {root_cause(error)}") from None
    finally:
        if own_session:
            session.close()
    if answer.status != 200:
        raise ImageUnavailable(f"image {url}: HTTP {answer.status}")
    data = answer.body
    # The bytes say what they are: a label says only what the server claims.
    mime_type = sniff_type(data)
    if mime_type is None:
        raise ImageUnavailable(
            f"image {url}: not an image (labelled {answer.content_type or 'with no type'})"
        )
    if mime_type not in limits.supported_mime_types:
        raise ImageUnavailable(
            f"image {url}: {mime_type} is not an image type the instance accepts"
        )
    return ImageFile(data=data, mime_type=mime_type, file_name=_file_name(url))


def upload_image(
    api: Any,
    image: ImageFile,
    description: str,
    *,
    timeout: float = 60.0,
    poll_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Upload through Mastodon.py's client `api`; the media id once the server has processed it.

    Mastodon.py's synchronous upload polls with no overall limit; this one
    gives up after `timeout` seconds.
    """
    from mastodon.errors import MastodonError

    try:
        # POST /api/v2/media (Mastodon 3.1.4+) sent directly: Mastodon.py's media_post first
        # asks the deprecated GET /api/v1/instance which endpoint to use, a request and a
        # Deprecation warning on every upload to Mastodon 4.x.
        media = api_request(
            api,
            "POST",
            "/api/v2/media",
            {"description": description or None},
            files={"file": (image.file_name, image.data, image.mime_type)},
        )
        deadline = clock() + timeout
        while media.get("url") is None:
            if clock() >= deadline:
                raise ImageUnavailable(
                    f"the instance was still processing the image after {timeout:.0f} s"
                )
            sleep(poll_interval)
            media = api.media(media["id"])
    except MastodonError as error:
        raise ImageUnavailable(f"image upload failed: {describe_api_error(error)}") from None
    return str(media["id"])


def _file_name(url: str) -> str:
    # Mastodon ignores the name; other servers show it, so keep the blog's own.
    name = posixpath.basename(unquote(urlsplit(url).path))
    return name[:100] or "image"


def _size(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MiB" if size >= 1024 * 1024 else f"{size} bytes"
