"""Exceptions raised by the library.

The CLI maps them to exit codes; nothing here knows about the CLI. A *temporary*
failure means the same work should succeed on a later run (exit 75), a
*permanent* one needs a person (exit 1).
"""


class CrossposterError(Exception):
    """Base class of everything this package raises on purpose."""


class ConfigError(CrossposterError):
    """The configuration file or environment is unusable, for each of `problems`: one
    sentence each, to be shown a line each."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StateError(CrossposterError):
    """The state file cannot be used; it is never silently replaced."""

    temporary = False


class TemporaryStateError(StateError):
    """The state cannot be written for now (a full disk, an I/O error, a busy file): what it
    holds stays consistent, and a later run carries on."""

    temporary = True


class StateLocked(TemporaryStateError):
    """Another run holds the state file."""


class NotInState(CrossposterError):
    """A `state` command named a feed or entry the state does not have."""


class FeedError(CrossposterError):
    """A feed could not be fetched or parsed."""

    temporary = False

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TemporaryFeedError(FeedError):
    """Network trouble, timeouts, 5xx, 429: try again next run."""

    temporary = True


class PublishError(CrossposterError):
    """A toot could not be posted."""

    temporary = False


class TemporaryPublishError(PublishError):
    """Network trouble, timeouts, 5xx: the post stays pending for the next run."""

    temporary = True


class InstanceUnreachable(TemporaryPublishError):
    """Nothing answers at the instance (refused, no such host): retrying at once is pointless."""


class RateLimited(TemporaryPublishError):
    """The account is throttled; `reset_at` says when it may post again."""

    def __init__(self, message: str, reset_at=None):
        super().__init__(message)
        self.reset_at = reset_at


class RejectedPost(PublishError):
    """The server refused this toot (403, 422): retrying the same one will not help."""


class StatusGone(RejectedPost):
    """The instance has no such status (HTTP 404): deleted, so neither edited nor deleted."""


class LookupRefused(PublishError):
    """The account's own statuses cannot be read, so an old pending post cannot be checked."""


class AuthenticationFailed(PublishError):
    """The access token is wrong or revoked (401): nothing can be posted."""


class LoginFailed(CrossposterError):
    """`crossposter login` could not get a token; `temporary` when trying again may work."""

    def __init__(self, message: str, *, temporary: bool = False):
        super().__init__(message)
        self.temporary = temporary


class ImageUnavailable(CrossposterError):
    """An entry's image cannot be attached; the toot goes out without it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
