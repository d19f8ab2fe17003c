"""What a configuration may say: every key, its type, its default and its checks (the
JSON schema for editors is made from these), and the names of the variables that
override it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from crossposter.compose.language import normalize_language
from crossposter.compose.template import DEFAULT_TEMPLATE, check_template
from crossposter.duration import parse_duration
from crossposter.feeds.fetch import FetchOptions
from crossposter.feeds.filters import EntryFilter, Rules
from crossposter.models import DEFAULT_ACCOUNT
from crossposter.names import DEFAULT_SKIPPED_CATEGORIES
from crossposter.net.addresses import AddressPolicy
from crossposter.web import is_loopback_host, with_scheme

TOKEN_VARIABLE = "CROSSPOSTER_ACCESS_TOKEN"
WEBHOOK_SECRET_VARIABLE = "CROSSPOSTER_WEBHOOK_SECRET"
# Every variable that may hold a secret crossposter reads: no command it runs (on_posted)
# sees them. The state's URL may hold the database password, and libpq reads its own. A
# feature that reads a new secret adds its variable here, and nowhere else; each account's
# access_token_env joins them (after_posting.hooks.secret_variables).
SECRET_VARIABLES = (
    TOKEN_VARIABLE,
    "CROSSPOSTER_STATE_URL",
    WEBHOOK_SECRET_VARIABLE,
    "PGPASSWORD",
    "PGPASSFILE",
)
# Where `--config` is looked for when it is not given.
CONFIG_VARIABLE = "CROSSPOSTER_CONFIG"
# The account of the top-level `instance` and CROSSPOSTER_ACCESS_TOKEN.
TOKEN_FILE_VARIABLE = "CROSSPOSTER_ACCESS_TOKEN_FILE"
# Settings only the environment may give: the schema of the file leaves them out.
ENVIRONMENT_ONLY = ("access_token", "webhook_secret")


def _default_skipped_categories() -> list[str]:
    # Sorted: a set's order follows the process's hash seed, and the settings
    # fingerprint must not.
    return sorted(DEFAULT_SKIPPED_CATEGORIES)


def bare_host_is_https(url: Any) -> Any:
    """`mastodon.social` means https://mastodon.social, as `login --instance` reads it."""
    return with_scheme(url) if isinstance(url, str) and url.strip() else url


def _url_or_bare_host(schema: dict[str, Any]) -> None:
    """For editors: a bare host is no URI, and must not be flagged as a mistake."""
    for variant in [schema, *schema.get("anyOf", [])]:
        variant.pop("format", None)


def _optional_duration(schema: dict[str, Any]) -> None:
    """For editors: `6h` is as good as 21600, and omitted (null) means inherited."""
    schema.pop("anyOf", None)
    schema["type"] = ["number", "string", "null"]


def not_a_boolean(value: Any) -> Any:
    """YAML reads yes, no, on, off, true and false as booleans, which would count as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError(
            f"a number is expected, not {str(value).lower()} "
            "(YAML reads yes/no, on/off and true/false as booleans)"
        )
    return value





def https_unless_loopback(url: Any) -> Any:
    """An instance receives the access token: over the network, only through TLS."""
    if url is None or _tls_or_loopback(url):
        return url
    raise ValueError(f"{url}: an instance must be https:// (plain http only on this machine)")


def _callback_over_tls(url: Any) -> Any:
    # A hub sends the subscription's secret in its verification: only through TLS.
    if url is None or _tls_or_loopback(url):
        return url
    raise ValueError(f"{url}: websub_callback must be https:// (plain http only on this machine)")


def _tls_or_loopback(url: Any) -> bool:
    parts = urlsplit(str(url))
    return parts.scheme == "https" or is_loopback_host(parts.hostname or "")


def _duration(value: Any) -> Any:
    """A duration as written (30s, 15m, 7d) in seconds; a number is left to the field."""
    return parse_duration(value) if isinstance(value, str) else value


def default_state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "crossposter" / "state.sqlite3"


class FilterRules(BaseModel):
    """An `include:` or `exclude:` block; each key takes one value or a list."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=list, description="Category names.")
    title: list[str] = Field(
        default_factory=list, description="Regular expressions searched in the title, any case."
    )
    author: list[str] = Field(default_factory=list, description="Author names or addresses.")

    @field_validator("categories", "title", "author", mode="before")
    @classmethod
    def _one_value_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    # The rules, their patterns compiled once, when the configuration is read.
    _rules: Rules = PrivateAttr(default_factory=Rules)

    @model_validator(mode="after")
    def _compile(self) -> FilterRules:
        self._rules = Rules.of(categories=self.categories, title=self.title, author=self.author)
        return self

    @property
    def rules(self) -> Rules:
        return self._rules


class AccountConfig(BaseModel):
    """One entry of `accounts:`: an instance and where its token is found, never the token."""

    model_config = ConfigDict(extra="forbid")

    instance: AnyHttpUrl = Field(
        description="Base URL (or bare host) of the account's Mastodon instance.",
        json_schema_extra=_url_or_bare_host,
    )
    access_token_env: str | None = Field(
        None, min_length=1, description="The environment variable holding the account's token."
    )
    access_token_file: Path | None = Field(
        None, description="A file holding the account's token (a Docker or Kubernetes secret)."
    )

    _instance_bare_host = field_validator("instance", mode="before")(bare_host_is_https)
    _instance_over_tls = field_validator("instance")(https_unless_loopback)

    @model_validator(mode="after")
    def _one_token_source(self) -> AccountConfig:
        if (self.access_token_env is None) == (self.access_token_file is None):
            raise ValueError("give exactly one of access_token_env and access_token_file")
        return self

    @property
    def instance_url(self) -> str:
        return str(self.instance).rstrip("/")


class FeedOptions(BaseModel):
    """Settings that may be given per feed, or once under `defaults:`."""

    model_config = ConfigDict(extra="forbid")

    backfill: int = Field(
        0, ge=0, description="On a feed's first run, announce its newest N entries."
    )
    max_posts_per_run: int = Field(
        3, ge=1, description="At most this many toots per feed and run; the rest wait."
    )
    flood_threshold: int = Field(
        10,
        ge=0,
        description="When more entries than this are new at once, and they are most of the "
        "feed, or every entry of a fetch (5 at least) is new, record them all and announce "
        "none; 0 turns the guard off.",
    )
    template: str = Field(DEFAULT_TEMPLATE, description="The toot, as a format string.")
    visibility: Literal["public", "unlisted", "private", "direct"] | None = Field(
        None, description="Omitted: the account's default visibility."
    )
    quote_approval_policy: Literal["public", "followers", "nobody"] | None = Field(
        None,
        description="Who may quote the toots (Mastodon 4.5+; left out on older servers). "
        "Omitted: the account's default quote policy.",
    )
    language: str | None = Field(
        None, description="Language when neither the entry nor the feed declares one."
    )
    force_language: bool = Field(
        False, description="Use `language` even when the entry or the feed declares another."
    )
    detect_language: bool = Field(
        True,
        description="When neither the entry, the feed nor `language` gives one, detect it "
        "from the title and summary.",
    )
    hashtags: list[str] = Field(default_factory=list, description="Hashtags added to every toot.")
    category_hashtags: bool = Field(True, description="Hashtags from the entry's categories.")
    hashtag_map: dict[str, str] = Field(
        default_factory=dict, description="Category names Mastodon cannot express, e.g. C++: Cpp."
    )
    skip_categories: list[str] = Field(
        default_factory=lambda: _default_skipped_categories(),
        description="Categories that never become hashtags (WordPress's default category).",
    )
    max_hashtags: int = Field(5, ge=0, description="At most this many category hashtags.")
    summary_max: int | None = Field(
        None, ge=0, description="Cut the summary to this many characters (default: use the room)."
    )
    neutralize_mentions: bool = Field(
        True, description="Keep @user in a summary from notifying that person."
    )
    content_warning: str = Field("", description="Content warning (spoiler text) for each toot.")
    content_warning_categories: list[str] = Field(
        default_factory=list, description="Only entries in these categories get the warning."
    )
    image: bool = Field(
        False, description="Attach the entry's image, with its alt text, to the toot."
    )
    include: FilterRules | None = Field(
        None, description="Announce only entries matching one of these rules."
    )
    exclude: FilterRules | None = Field(
        None, description="Never announce entries matching one of these rules."
    )
    account: str | None = Field(
        None, description="The name of an `accounts:` entry (default: the top-level instance)."
    )
    on_posted: str | None = Field(
        None,
        min_length=1,
        description="A command line run through the shell after each announcement, edit or "
        "retraction, with CROSSPOSTER_EVENT, CROSSPOSTER_FEED, CROSSPOSTER_ARTICLE_URL, "
        "CROSSPOSTER_TOOT_URL and CROSSPOSTER_TOOT_ID set; 30 s at most.",
    )

    # `backfill: yes` is refused, not read as 1.
    _numbers_are_numbers = field_validator(
        "backfill", "max_posts_per_run", "max_hashtags", "summary_max", mode="before"
    )(not_a_boolean)

    on_change: Literal["keep", "edit"] = Field(
        "keep",
        description="edit: when an announced article's title, summary, link, categories or "
        "image change, edit its toot in place (within edit_window).",
    )
    edit_window: float = Field(
        7 * 86400,
        gt=0,
        description="How long after posting a toot may be edited: seconds, or a duration "
        "such as 7d.",
        json_schema_extra={"type": ["number", "string"]},
    )
    max_edits: int = Field(
        3,
        ge=0,
        description="At most this many edits of one toot (a flapping feed must not edit it "
        "again and again); 0: never edited.",
    )
    edit_cooldown: float = Field(
        3600,
        ge=0,
        description="The shortest time between two edits of one toot: seconds, or a duration "
        "such as 1h.",
        json_schema_extra={"type": ["number", "string"]},
    )
    on_remove: Literal["keep", "delete"] = Field(
        "keep",
        description="delete: when an announced article has left its feed and its link answers "
        "404 or 410 twice, an hour apart, delete its toot (within remove_window).",
    )
    remove_window: float = Field(
        30 * 86400,
        gt=0,
        description="How long after posting a removed article's toot may be deleted: seconds, "
        "or a duration such as 30d.",
        json_schema_extra={"type": ["number", "string"]},
    )

    alert_after: float | None = Field(
        None,
        gt=0,
        description="How long after its last success a feed failing only temporarily "
        "becomes an error (exit 1): seconds, or a duration such as 6h. Omitted: the "
        "top-level alert_after.",
        json_schema_extra=_optional_duration,
    )

    _windows = field_validator(
        "edit_window", "remove_window", "edit_cooldown", "alert_after", mode="before"
    )(lambda value: _duration(value))

    @field_validator("template")
    @classmethod
    def _template_is_usable(cls, template: str) -> str:
        check_template(template)
        return template

    @field_validator("language")
    @classmethod
    def _language_is_known(cls, language: str | None) -> str | None:
        # Mastodon silently replaces a code it does not know: say so now, not never.
        if language is not None and normalize_language(language) is None:
            raise ValueError(f"{language!r} is not a language code Mastodon knows (fr, en, de...)")
        return language

    def entry_filter(self) -> EntryFilter:
        return EntryFilter(
            include=self.include.rules if self.include else Rules(),
            exclude=self.exclude.rules if self.exclude else Rules(),
        )

    @field_validator("hashtags", mode="before")
    @classmethod
    def _one_tag_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.split()
        return value


class FeedConfig(FeedOptions):
    name: str = Field(min_length=1, description="A short unique name; the state is kept under it.")
    url: str = Field(min_length=1, description="http(s) URL, file:// URL or local path.")
    enabled: bool = True

    @property
    def settings_fingerprint(self) -> str:
        """Changes when, and only when, the feed's settings do, in any process.

        Only values other than the defaults count: a setting a new version adds (or a
        default it changes) is no change the user made, and retries nothing.
        """
        # What runs after a post, or when a failure is told, changes no toot: changing it
        # must not retry failed ones.
        settings = self.model_dump(
            mode="json", exclude={"on_posted", "alert_after"}, exclude_defaults=True
        )
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


class Settings(BaseSettings):
    """Everything a run needs; the token only ever comes from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CROSSPOSTER_",
        extra="forbid",
        # For editors: `instance` may be left out only when every feed names an account.
        json_schema_extra={
            "anyOf": [
                {"required": ["instance"]},
                {
                    "required": ["accounts", "defaults"],
                    "properties": {
                        "accounts": {"minProperties": 1},
                        "defaults": {"required": ["account"]},
                    },
                },
                {
                    "required": ["accounts", "feeds"],
                    "properties": {
                        "accounts": {"minProperties": 1},
                        "feeds": {"items": {"required": ["account"]}},
                    },
                },
            ]
        },
    )

    instance: AnyHttpUrl | None = Field(
        None,
        description="Base URL (or bare host) of the Mastodon instance of the default account, "
        "which every "
        "feed without `account:` posts to. Required unless every feed names an account.",
        json_schema_extra=_url_or_bare_host,
    )
    state_file: Path = Field(default_factory=default_state_file)
    state_url: str | None = Field(
        None,
        description="postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME: keep the state in "
        "PostgreSQL instead of state_file (needs the postgres extra of blog-crossposter). "
        "The password may also come from PGPASSWORD or ~/.pgpass.",
        pattern=r"^postgres(ql)?://",
    )
    access_token: SecretStr | None = Field(None, exclude=True)
    access_token_file: Path | None = Field(
        None,
        description="A file holding the access token, such as a Docker or Kubernetes secret; "
        "read when CROSSPOSTER_ACCESS_TOKEN is not set.",
    )
    webhook_secret: SecretStr | None = Field(None, exclude=True)
    webhook_secret_file: Path | None = Field(
        None,
        description="A file holding the secret that `POST /feeds/NAME/poll` of `run --loop "
        "--listen` asks for (as a bearer token, or Ghost's X-Ghost-Signature); read when "
        "CROSSPOSTER_WEBHOOK_SECRET is not set. Without either, that endpoint does not exist.",
    )
    websub_callback: AnyHttpUrl | None = Field(
        None,
        description="The public address of `run --loop --listen` (https unless loopback): "
        "a feed that advertises a WebSub hub is subscribed to, the hub calling back under "
        "URL/websub/, and a push polls the feed at once.",
    )
    heartbeat_file: Path | None = Field(
        None,
        description="Rewritten after each pass of `run --loop`, for `crossposter health`. "
        "Default: the state file's path + .heartbeat.",
    )
    defaults: FeedOptions = Field(default_factory=FeedOptions)
    feeds: list[FeedConfig] = Field(default_factory=list)
    accounts: dict[str, AccountConfig] = Field(
        default_factory=dict,
        description="More accounts, by name, for feeds that say `account: name`.",
    )

    fetch_timeout: float = Field(20.0, gt=0, description="Seconds to connect and between bytes.")
    fetch_deadline: float = Field(
        60.0,
        gt=0,
        description="Longest time for a whole feed fetch or image download: seconds, or a "
        "duration such as 30s or 2m.",
        json_schema_extra={"type": ["number", "string"]},
    )
    allow_private_urls_in_feeds: bool = Field(
        False,
        description="Let URLs found inside feeds (images, removal checks), and the redirects "
        "of a feed on a public address, reach loopback and private addresses: for blogs on "
        "your own network.",
    )
    fetch_workers: int = Field(256, ge=1, le=256, description="Feeds fetched at the same time.")
    max_feed_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    request_timeout: float = Field(
        30.0, gt=0, description="Seconds for each Mastodon request, its answer included."
    )
    post_retry_seconds: float = Field(
        60.0, ge=0, description="Seconds spent retrying one post on network errors and 5xx."
    )
    rate_limit_wait: float = Field(
        30.0, ge=0, description="Wait out a rate limit that resets within this many seconds."
    )
    lock_timeout: float = Field(0.0, ge=0, description="Seconds to wait for another run to end.")
    lease_timeout: float = Field(
        120.0,
        gt=0,
        description="With state_url: how long a feed stays leased to a process that stopped "
        "renewing it (it died) before another process takes it over: seconds, or a duration "
        "such as 2m. Ignored with state_file.",
        json_schema_extra={"type": ["number", "string"]},
    )
    idempotency_window: float = Field(
        3600.0, ge=0,
        description="Seconds the instance remembers an Idempotency-Key; an older pending post "
        "is first looked for among the account's recent statuses.",
    )
    retention_days: int = Field(
        180, ge=7, description="Forget entries absent from their feed for this long."
    )
    links_file: Path | None = Field(
        None,
        description="Every announced article and its toots, as JSON, rewritten after each run "
        "that changed it: for a static site's data folder.",
    )
    replies_file: Path | None = Field(
        None,
        description="The public replies to recent toots, by article URL, as JSON, rewritten "
        "after each run that changed it.",
    )
    replies_window: float = Field(
        30 * 86400.0, gt=0,
        description="Replies are read for toots younger than this: seconds, or a duration "
        "such as 7d.",
        json_schema_extra={"type": ["number", "string"]},
    )
    replies_interval: float = Field(
        3600.0,
        gt=0,
        description="Each toot's replies are read at most this often: seconds, or a duration "
        "such as 1h.",
        json_schema_extra={"type": ["number", "string"]},
    )
    alert_after: float = Field(
        6 * 3600.0,
        gt=0,
        description="How long after its last success a feed or an account failing only "
        "temporarily becomes an error (logged at ERROR on every run, exit 1 instead of 75): "
        "seconds, or a duration such as 6h. A feed may set its own.",
        json_schema_extra={"type": ["number", "string"]},
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init arguments; the environment must win over it.
        return env_settings, init_settings

    _instance_bare_host = field_validator("instance", mode="before")(bare_host_is_https)
    _instance_over_tls = field_validator("instance")(https_unless_loopback)
    _websub_callback_over_tls = field_validator("websub_callback")(_callback_over_tls)
    _numbers_are_numbers = field_validator(
        "fetch_timeout",
        "fetch_deadline",
        "fetch_workers",
        "max_feed_bytes",
        "request_timeout",
        "post_retry_seconds",
        "rate_limit_wait",
        "lock_timeout",
        "idempotency_window",
        "retention_days",
        mode="before",
    )(not_a_boolean)

    _durations = field_validator(
        "fetch_deadline",
        "replies_window",
        "replies_interval",
        "lease_timeout",
        "alert_after",
        mode="before",
    )(lambda value: _duration(value))

    @model_validator(mode="after")
    def _feed_names_unique(self) -> Settings:
        seen: set[str] = set()
        for feed in self.feeds:
            if feed.name in seen:
                raise ValueError(f"two feeds are named {feed.name!r}; names must be unique")
            seen.add(feed.name)
        return self

    @model_validator(mode="after")
    def _instance_when_needed(self) -> Settings:
        if self.instance is not None:
            return self
        default_feeds = [f.name for f in self.feeds if f.account in (None, DEFAULT_ACCOUNT)]
        if default_feeds:
            raise ValueError(
                f"instance: required by feed {default_feeds[0]!r}, which posts with the "
                "top-level account (give `instance`, or `account:` on the feed)"
            )
        if not self.accounts:
            raise ValueError("instance: required: the Mastodon instance the toots go to")
        return self

    @model_validator(mode="after")
    def _accounts_known(self) -> Settings:
        if DEFAULT_ACCOUNT in self.accounts:
            raise ValueError(
                f"accounts: {DEFAULT_ACCOUNT!r} is the top-level instance's account; "
                "give this one another name"
            )
        for feed in self.feeds:
            if feed.account not in (None, DEFAULT_ACCOUNT, *self.accounts):
                known = ", ".join(sorted(self.accounts)) or "none"
                raise ValueError(
                    f"feed {feed.name!r}: unknown account {feed.account!r} (accounts: {known})"
                )
        return self

    @property
    def instance_url(self) -> str:
        """The default account's instance; "" when every feed names another account."""
        return str(self.instance).rstrip("/") if self.instance is not None else ""

    @property
    def heartbeat_path(self) -> Path:
        return self.heartbeat_file or self.state_file.with_name(self.state_file.name + ".heartbeat")

    @property
    def enabled_feeds(self) -> list[FeedConfig]:
        return [feed for feed in self.feeds if feed.enabled]

    def feed_named(self, name: str) -> FeedConfig | None:
        """The configured feed called `name`; None when the configuration has none."""
        return next((feed for feed in self.feeds if feed.name == name), None)

    def fetch_options(self) -> FetchOptions:
        """How every feed is fetched, by a run, `check` or a repair alike."""
        return FetchOptions(
            timeout=self.fetch_timeout,
            deadline=self.fetch_deadline,
            max_bytes=self.max_feed_bytes,
            workers=self.fetch_workers,
            addresses=AddressPolicy(allow_private=self.allow_private_urls_in_feeds),
        )
