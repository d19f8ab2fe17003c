"""The user's configuration: a YAML file, overridden by CROSSPOSTER_* variables.

Configuration is what a person writes; what the tool learns while running lives in the
state, never here. `models` says what may be written, `loading` reads it and `problems`
words what is wrong with it.
"""

from crossposter.config.loading import (
    ReloadingSettings,
    default_config_path,
    load_settings,
)
from crossposter.config.models import (
    CONFIG_VARIABLE,
    ENVIRONMENT_ONLY,
    TOKEN_FILE_VARIABLE,
    TOKEN_VARIABLE,
    WEBHOOK_SECRET_VARIABLE,
    AccountConfig,
    FeedConfig,
    FeedOptions,
    FilterRules,
    Settings,
    bare_host_is_https,
    default_state_file,
    https_unless_loopback,
    is_loopback_host,
    not_a_boolean,
)
from crossposter.config.problems import TAB_HINT

__all__ = [
    "CONFIG_VARIABLE",
    "ENVIRONMENT_ONLY",
    "TAB_HINT",
    "TOKEN_FILE_VARIABLE",
    "TOKEN_VARIABLE",
    "WEBHOOK_SECRET_VARIABLE",
    "AccountConfig",
    "FeedConfig",
    "FeedOptions",
    "FilterRules",
    "ReloadingSettings",
    "Settings",
    "bare_host_is_https",
    "default_config_path",
    "default_state_file",
    "https_unless_loopback",
    "is_loopback_host",
    "load_settings",
    "not_a_boolean",
]
