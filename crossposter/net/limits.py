"""What bounds a body read, whichever client reads it (net.bounded, net.http1)."""

# Never more than this is asked of a socket at once.
CHUNK = 64 * 1024


class TooLarge(Exception):
    """The body is larger than the limit (declared, or read)."""
