"""Posting toots through Mastodon.py, with its errors turned into ours.

Mastodon.py is imported only when a Publisher is made, so a run with nothing
to post never pays for it.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_delay,
    stop_any,
    wait_random_exponential,
)

from crossposter.errors import (
    AuthenticationFailed,
    InstanceUnreachable,
    LookupRefused,
    PublishError,
    RateLimited,
    RejectedPost,
    StatusGone,
    TemporaryPublishError,
)
from crossposter.mastodon.client import (
    api_request,
    describe_api_error,
    mastodon_client,
    mastodon_session,
)
from crossposter.mastodon.media import ImageFile, upload_image
from crossposter.models import AccountProfile, Posted, Thread, Toot
from crossposter.signals import GRACE_SECONDS
from crossposter.web import connection_problem, unreachable

log = logging.getLogger(__name__)

TOKEN_HELP = (
    "the access token was refused (HTTP 401): it is wrong or was revoked. "
    "Create a new one (Preferences → Development → New application, scopes "
    "write:statuses write:media read:accounts read:statuses, or `crossposter login`) "
    "and put it where this one came from"
)


# How far back the account's statuses are searched for a toot whose answer was lost.
LOOKUP_PAGE_SIZE = 40
LOOKUP_MAX_PAGES = 5
# Clocks of this machine and the instance may disagree by this much.
CLOCK_SLACK = timedelta(hours=1)

_HREF = re.compile(r'href="([^"]*)"')


def idempotency_key(instance: str, account: str, feed: str, entry_id: str) -> str:
    """The same entry always gets the same key, so a retried post cannot appear twice."""
    material = "\x00".join((instance.rstrip("/").lower(), account, feed, entry_id))
    return "crossposter-" + hashlib.sha256(material.encode()).hexdigest()[:48]


@dataclass(frozen=True)
class PublishOptions:
    request_timeout: float = 30.0
    # Total time spent retrying one post on transient errors before leaving it for the next run.
    retry_seconds: float = 60.0
    # A 429 whose reset is further away than this stops posting for the run instead of sleeping.
    rate_limit_wait: float = 30.0
    # How long an uploaded image may stay "processing" before the toot goes without it.
    media_timeout: float = 60.0


class Publisher:
    """One Mastodon account, posting statuses."""

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        options: PublishOptions = PublishOptions(),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.instance_url = instance_url
        self.options = options
        self._sleep = sleep
        # Each request, answer included, within request_timeout and 8 MiB; after a
        # stop request, the one in flight gets the rest of the grace.
        session, self._transport = mastodon_session(options.request_timeout, grace=GRACE_SECONDS)
        self._api = mastodon_client(
            instance_url,
            timeout=options.request_timeout,
            access_token=access_token,
            session=session,
        )

    def post(self, toot: Toot, key: str, stop: threading.Event | None = None) -> Posted:
        """Post `toot` once; retries transient failures with the same idempotency key.

        Once `stop` is set, no new attempt starts and waits end early: the last
        error is raised and the post stays pending.
        """
        return self._send(stop, self._post_once, toot, key)

    def update(self, status_id: str, toot: Toot, stop: threading.Event | None = None) -> None:
        """Edit the status to read as `toot`, as `post` posts it; StatusGone when it is gone.

        An edit is idempotent: sent twice, the status reads the same. Its language and
        visibility are left as they are (Mastodon keeps the language when none is sent).
        """
        self._send(stop, self._update_once, status_id, toot)

    def delete(
        self, status_id: str, stop: threading.Event | None = None, *, delete_media: bool = False
    ) -> None:
        """Delete the status; StatusGone when it is already gone.

        `delete_media` (Mastodon 4.4, API version 4: mastodon.capabilities) removes its
        media at once, instead of leaving them a day for a delete-and-redraft.
        """
        self._send(stop, self._delete_once, status_id, delete_media)

    def delete_upload(self, media_id: str, stop: threading.Event | None = None) -> None:
        """Delete an upload no status uses (DELETE /api/v1/media/:id, Mastodon 4.4, API version
        4: docs content/en/methods/media.md). Once, no retry: a later run may try again.

        Mastodon.py 2.3.3 has no method for it: its generic request sends it.
        """
        from mastodon import errors as mastodon_errors

        self._transport.stop = stop
        try:
            api_request(self._api, "DELETE", f"/api/v1/media/{media_id}", parse=False)
        except mastodon_errors.MastodonError as error:
            raise translate_error(error, self._api) from None

    def _send(self, stop: threading.Event | None, request: Callable[..., Any], *args: Any) -> Any:
        """One status request, retried on transient failures, a short rate limit waited out."""
        self._transport.stop = stop
        return self._retrying(stop)(self._waiting_out_short_limits, stop, request, *args)

    def upload_image(
        self, image: ImageFile, description: str, stop: threading.Event | None = None
    ) -> str:
        """Upload an image with its alt text; its media id. Raises ImageUnavailable."""
        self._transport.stop = stop
        return upload_image(
            self._api, image, description, timeout=self.options.media_timeout, sleep=self._sleep
        )

    def find_posted(
        self, link: str, since: datetime, stop: threading.Event | None = None
    ) -> Posted | None:
        """The account's own status linking to `link`, posted after `since`, or None.

        Asked when a pending post is older than the instance remembers its
        Idempotency-Key: posting again blindly could announce the article twice.
        """
        self._transport.stop = stop
        return self._retrying(stop)(self._find_posted_once, link, since - CLOCK_SLACK)

    def descendants(self, status_id: str) -> Thread:
        """The replies to a status and theirs (GET /api/v1/statuses/:id/context), once.

        No retry and no waiting out a rate limit: reading replies may never hold up posting.
        From Mastodon 4.5 the answer may say that replies from other servers are still
        being fetched (`Mastodon-Async-Refresh`, docs content/en/methods/statuses.md,
        "4.5.0 - added experimental `Mastodon-Async-Refresh` header"), which Mastodon.py
        reads (`get_async_refresh_info`): then the thread is not final.
        """
        from mastodon import errors as mastodon_errors

        try:
            context = self._api.status_context(status_id)
            refresh = self._api.get_async_refresh_info(context)
        except mastodon_errors.MastodonError as error:
            raise translate_error(error, self._api) from None
        retry = refresh[1] if refresh else None
        return Thread(
            tuple(context["descendants"]),
            None if refresh is None else float(retry if isinstance(retry, int) else 0),
        )

    def status(self, status_id: str) -> Any:
        """One of the account's statuses as the instance shows it now (GET
        /api/v1/statuses/:id), its link card included; once, no retry, like `descendants`."""
        from mastodon import errors as mastodon_errors

        try:
            return self._api.status(status_id)
        except mastodon_errors.MastodonError as error:
            raise translate_error(error, self._api) from None

    def _retrying(self, stop: threading.Event | None) -> Retrying:
        give_up = stop_after_delay(self.options.retry_seconds)
        if stop is not None:
            give_up = stop_any(give_up, lambda _: stop.is_set())
        return Retrying(
            # A refused connection or an unknown host is told at once and the post waits
            # for the next run; 5xx and timeouts may pass within the bounded retry.
            retry=retry_if_exception(
                lambda error: (
                    isinstance(error, TemporaryPublishError)
                    and not isinstance(error, RateLimited | InstanceUnreachable)
                )
            ),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            stop=give_up,
            sleep=self._waiter(stop),
            reraise=True,
            before_sleep=self._log_retry,
        )

    def _log_retry(self, state) -> None:
        # The first failure is worth a line while the retries go on quietly; the last
        # one reaches the caller.
        level = logging.WARNING if state.attempt_number == 1 else logging.DEBUG
        log.log(
            level,
            "%s; retrying for up to %g s",
            state.outcome.exception(),
            self.options.retry_seconds,
        )

    def _waiter(self, stop: threading.Event | None) -> Callable[[float], None]:
        # A stop request (SIGTERM) must not sit out a backoff or a rate-limit wait.
        if stop is None:
            return self._sleep
        return stop.wait

    def _waiting_out_short_limits(
        self, stop: threading.Event | None, request: Callable[..., Any], *args: Any
    ) -> Any:
        try:
            return request(*args)
        except RateLimited as limited:
            wait = _seconds_until(limited.reset_at)
            if wait is None or wait > self.options.rate_limit_wait:
                raise
            log.info("rate limited; waiting %.0f s for the reset", wait)
            self._waiter(stop)(wait)
            if stop is not None and stop.is_set():
                raise
            return request(*args)

    def _find_posted_once(self, link: str, since: datetime) -> Posted | None:
        from mastodon import errors as mastodon_errors

        try:
            account = self._api.account_verify_credentials()
            max_id = None
            for _ in range(LOOKUP_MAX_PAGES):
                page = self._api.account_statuses(
                    account["id"], limit=LOOKUP_PAGE_SIZE, max_id=max_id, exclude_reblogs=True
                )
                for status in page:
                    if links_to(status, link):
                        return _posted(status)
                if len(page) < LOOKUP_PAGE_SIZE or _created(page[-1]) < since:
                    return None
                max_id = page[-1]["id"]
        except mastodon_errors.MastodonError as error:
            translated = translate_error(error, self._api)
            if type(translated) is RejectedPost:
                raise LookupRefused(
                    f"cannot read the account's own statuses ({translated}); the token needs "
                    "the scopes read:accounts and read:statuses"
                ) from None
            raise translated from None
        return None

    def _post_once(self, toot: Toot, key: str) -> Posted:
        from mastodon import errors as mastodon_errors

        try:
            # Mastodon.py's generic request, as its status_post sends it (the same session,
            # token, rate-limit bookkeeping and errors) but with the answer left a dict:
            # status_post makes typed objects of the whole status and its account, ~2.5 ms
            # of CPU a post, a fifth of a post's, for the three fields read here.
            status = api_request(
                self._api,
                "POST",
                "/api/v1/statuses",
                _status_parameters(toot),
                headers={"Idempotency-Key": key},
                use_json=True,
                override_type=dict,
            )
        except mastodon_errors.MastodonError as error:
            raise translate_error(error, self._api) from None
        return _posted(status)


    def _update_once(self, status_id: str, toot: Toot) -> None:
        from mastodon import errors as mastodon_errors

        try:
            # Whatever PUT leaves out is cleared: the warning and the media go again.
            self._api.status_update(
                status_id,
                status=toot.text,
                spoiler_text=toot.spoiler_text or None,
                sensitive=bool(toot.spoiler_text),
                media_ids=list(toot.media_ids) or None,
            )
        except mastodon_errors.MastodonError as error:
            raise translate_error(error, self._api) from None

    def _delete_once(self, status_id: str, delete_media: bool) -> None:
        from mastodon import errors as mastodon_errors

        try:
            # None leaves the parameter out: a server before 4.4 is asked nothing new.
            self._api.status_delete(status_id, delete_media=True if delete_media else None)
        except mastodon_errors.MastodonError as error:
            raise translate_error(error, self._api) from None


def translate_error(error: Exception, api: Any = None) -> PublishError:
    """Mastodon.py's exception as one of ours: temporary, rate limited, rejected or auth."""
    from mastodon import errors as mastodon_errors

    if isinstance(error, mastodon_errors.MastodonRatelimitError):
        reset = getattr(api, "ratelimit_reset", None)
        reset_at = datetime.fromtimestamp(reset, UTC) if reset else None
        return RateLimited("rate limited by the instance (HTTP 429)", reset_at=reset_at)
    if isinstance(error, mastodon_errors.MastodonUnauthorizedError):
        return AuthenticationFailed(TOKEN_HELP)
    if isinstance(error, mastodon_errors.MastodonServerError):
        return TemporaryPublishError(f"server error: {describe_api_error(error)}")
    if isinstance(error, mastodon_errors.MastodonNetworkError | mastodon_errors.MastodonIOError):
        problem = connection_problem(getattr(api, "api_base_url", None) or "the instance", error)
        if unreachable(error):
            return InstanceUnreachable(problem)
        return TemporaryPublishError(problem)
    if isinstance(error, mastodon_errors.MastodonAPIError):
        status = _status_code(error)
        if status in (408, 409, 425):
            return TemporaryPublishError(f"server asked to retry: {describe_api_error(error)}")
        if status == 404:
            return StatusGone(f"not on the instance: {describe_api_error(error)}")
        return RejectedPost(f"rejected by the server: {describe_api_error(error)}")
    return PublishError(f"unexpected Mastodon.py error: {describe_api_error(error)}")


def _status_parameters(toot: Toot) -> dict[str, Any]:
    """What POST /api/v1/statuses is sent for `toot`: what status_post sent, as JSON."""
    parameters = {
        "status": toot.text,
        "visibility": toot.visibility,
        "language": toot.language,
        # Mastodon 4.5 (API version 7); left out (None) as a server before wants.
        "quote_approval_policy": toot.quote_approval_policy,
        "spoiler_text": toot.spoiler_text or None,
        # True with a content warning, as Mastodon's own interface sends it.
        "sensitive": bool(toot.spoiler_text),
        "media_ids": list(toot.media_ids) or None,
    }
    return {name: value for name, value in parameters.items() if value is not None}


def _posted(status: Any) -> Posted:
    return Posted(
        id=str(status["id"]), url=status.get("url") or status.get("uri"), author=_author(status)
    )


def _author(status: Any) -> AccountProfile | None:
    return account_profile(status.get("account") or {})


def account_profile(account: Any) -> AccountProfile | None:
    """How an account (as the API returns it) shows on its toots; None when it says not."""
    acct = account.get("acct")
    if not isinstance(acct, str) or not acct:
        return None
    return AccountProfile(
        display_name=str(account.get("display_name") or account.get("username") or acct),
        acct=acct,
        avatar_url=str(account.get("avatar_static") or account.get("avatar") or ""),
    )


def links_to(status: Any, link: str) -> bool:
    """Whether a status (as the API returns it) links to `link`, in its text or its card."""
    content = status.get("content") or ""
    if any(html.unescape(href) == link for href in _HREF.findall(content)):
        return True
    card = status.get("card") or {}
    return bool(card) and card.get("url") == link


def _created(status: Any) -> datetime:
    created = status.get("created_at")
    if isinstance(created, str):
        created = datetime.fromisoformat(created.replace("Z", "+00:00"))
    if not isinstance(created, datetime):
        # Without a date the search cannot know it went far enough back: keep looking.
        return datetime.max.replace(tzinfo=UTC)
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _status_code(error: Exception) -> int | None:
    args = getattr(error, "args", ())
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def _seconds_until(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
