"""`crossposter health`: is `run --loop` working? The verdict is crossposter.health's."""

from __future__ import annotations

import argparse

from crossposter.cli.common import add_common, duration, log
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK


def add_health_arguments(health: argparse.ArgumentParser) -> None:
    health.description = (
        "Exit 0 when `run --loop` finished a successful pass recently (within "
        "twice its interval, or --max-age), 1 otherwise, saying why. Reads only the heartbeat "
        "file next to the state file; with state_url, the heartbeat of this worker "
        "(CROSSPOSTER_WORKER_ID) in the database. Also names the feeds and accounts the "
        "runs find failing, and since when."
    )
    add_common(health)
    health.add_argument(
        "--max-age",
        type=duration,
        metavar="DURATION",
        help="how old the last successful pass may be (default: twice the loop's interval)",
    )


def command_health(args: argparse.Namespace) -> int:
    from crossposter.config import load_settings
    from crossposter.health import check_health, check_worker_health

    settings = load_settings(args.config)
    if settings.state_url:
        health = check_worker_health(settings, max_age=args.max_age)
    else:
        health = check_health(settings.heartbeat_path, max_age=args.max_age)
    failing = "".join(f"; {line}" for line in failing_now(settings))
    if health.healthy:
        log.info("healthy: %s%s", health.message, failing)
        return EXIT_OK
    log.error("unhealthy: %s%s", health.message, failing)
    return EXIT_FAILED


def failing_now(settings) -> list[str]:
    """The feeds and accounts the runs find failing (alert_after), as health reports them."""
    from crossposter.alerts import describe
    from crossposter.errors import CrossposterError
    from crossposter.storage import open_read_only

    try:
        with open_read_only(settings) as state:
            return [f"{f.kind} {f.name} {describe(f)}" for f in state.failures()]
    except CrossposterError:
        return []  # the heartbeat's verdict stands alone
