"""Who may ask for a poll: the checks of a bearer token, a Ghost webhook's signature and a
WebSub hub's. Pure functions over the request's bytes and headers; every comparison of
a secret takes the same time whatever the guess.
"""

from __future__ import annotations

import hashlib
import hmac
import re

# Older signatures are refused: a captured request cannot be replayed later.
GHOST_SIGNATURE_MAX_AGE = 5 * 60.0
# WebSub (W3C Recommendation, 5.3.1): the hub names its algorithm; these are the ones allowed.
HUB_ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")

# Ghost's webhook-trigger.js (TryGhost/Ghost, ghost/core/core/server/services/webhooks/):
#   const ts = Date.now();
#   headers['X-Ghost-Signature'] = `sha256=${crypto.createHmac('sha256', secret)
#       .update(`${reqPayload}${ts}`).digest('hex')}, t=${ts}`
# the HMAC of the body followed by the time in milliseconds, as decimal digits.
_GHOST = re.compile(r"^\s*sha256=([0-9a-fA-F]{64})\s*,\s*t=(\d{1,16})\s*$")
_BEARER = re.compile(r"^\s*Bearer\s+(\S+)\s*$", re.IGNORECASE)
_HUB = re.compile(r"^\s*(sha1|sha256|sha384|sha512)=([0-9a-fA-F]+)\s*$")


def bearer_matches(authorization: str | None, secret: bytes) -> bool:
    """Whether an `Authorization: Bearer SECRET` header carries `secret`."""
    match = _BEARER.match(authorization or "")
    return bool(match) and hmac.compare_digest(match.group(1).encode("utf-8"), secret)


def ghost_signature_valid(header: str | None, body: bytes, secret: bytes, *, now: float) -> bool:
    """Whether `X-Ghost-Signature: sha256=HEX, t=TS` signs `body` with `secret`, signed at
    most GHOST_SIGNATURE_MAX_AGE seconds before `now` (seconds since the epoch)."""
    match = _GHOST.match(header or "")
    if not match:
        return False
    digest, stamp = match.group(1).lower(), match.group(2)
    if abs(now - int(stamp) / 1000) > GHOST_SIGNATURE_MAX_AGE:
        return False
    expected = hmac.new(secret, body + stamp.encode("ascii"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)


def hub_signature_valid(header: str | None, body: bytes, secret: bytes) -> bool:
    """Whether `X-Hub-Signature: METHOD=HEX` signs a WebSub delivery's `body` with the
    subscription's `secret`."""
    match = _HUB.match(header or "")
    if not match:
        return False
    method, digest = match.group(1), match.group(2).lower()
    expected = hmac.new(secret, body, method).hexdigest()
    return hmac.compare_digest(expected, digest)
