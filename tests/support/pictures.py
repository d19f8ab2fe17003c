"""Real images made on the spot, for pages and cards: a browser can draw them."""

from __future__ import annotations

import struct
import zlib

Colour = tuple[int, int, int]


def png(
    width: int, height: int, rgb: Colour = (99, 100, 255), bottom: Colour | None = None
) -> bytes:
    """A PNG `width` × `height` of one colour, or fading from `rgb` at the top to `bottom`."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    end = bottom or rgb
    rows = []
    for y in range(height):
        share = y / max(height - 1, 1)
        colour = bytes(round(a + (b - a) * share) for a, b in zip(rgb, end, strict=True))
        rows.append(b"\x00" + colour * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
