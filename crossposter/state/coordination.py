"""The state's role between processes and runs: an instance's limits, how each account shows,
429 resets, loop heartbeats, the feeds and accounts failing now. A backend that lets several
processes in (PostgreSQL) adds per-feed leases and sends the writes here through a session
that commits at once (`_shared_write`)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from crossposter.models import AccountProfile, Failing, Heartbeat, InstanceLimits
from crossposter.state.records import now_utc
from crossposter.state.sql import SqlStore

HEARTBEAT_COLUMNS = "worker, interval_seconds, last_run_at, last_exit_code, last_success_at"


class Coordination(SqlStore):
    def cached_limits(self, instance: str, max_age: timedelta) -> InstanceLimits | None:
        row = self._row("SELECT limits, fetched_at FROM instances WHERE url = ?", (instance,))
        if not row or now_utc() - self.dialect.moment(row["fetched_at"]) > max_age:
            return None
        asked_at = self.dialect.moment(row["fetched_at"])
        return InstanceLimits(
            **{**json.loads(row["limits"]), "source": "cached", "asked_at": asked_at}
        )

    def save_limits(self, instance: str, limits: InstanceLimits) -> None:
        self._write(
            "INSERT INTO instances (url, limits, fetched_at) VALUES (?, ?, ?) "
            "ON CONFLICT (url) DO UPDATE SET limits = excluded.limits, "
            "fetched_at = excluded.fetched_at",
            # When they were asked is fetched_at's to say, not the JSON's.
            (
                instance,
                json.dumps(asdict(replace(limits, asked_at=None))),
                self.dialect.stamp(now_utc()),
            ),
        )

    def account_profile(self, instance: str, account: str) -> AccountProfile | None:
        """How `account` on `instance` showed on the last toot a run posted, if one did."""
        row = self._row(
            "SELECT profile FROM account_profiles WHERE instance = ? AND account = ?",
            (instance, account),
        )
        return AccountProfile(**json.loads(row["profile"])) if row else None

    def save_account_profile(self, instance: str, account: str, profile: AccountProfile) -> None:
        self._write(
            "INSERT INTO account_profiles (instance, account, profile) VALUES (?, ?, ?) "
            "ON CONFLICT (instance, account) DO UPDATE SET profile = excluded.profile",
            (instance, account, json.dumps(asdict(profile))),
        )

    def record_failure(self, kind: str, name: str, error: str, at: datetime) -> Failing:
        """A feed or an account (`kind`) failed at `at`: since when it has been failing (the
        first failure after its last success), with `error` as its last."""
        self._write(
            "INSERT INTO failures (kind, name, since, last_error) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, name) DO UPDATE SET last_error = excluded.last_error",
            (kind, name, self.dialect.stamp(at), error),
        )
        return self._failure(kind, name) or Failing(kind, name, at, error)

    def record_success(self, kind: str, name: str) -> Failing | None:
        """It worked: the failure it had, now over, or None."""
        ended = self._failure(kind, name)
        if ended is not None:
            self._write("DELETE FROM failures WHERE kind = ? AND name = ?", (kind, name))
        return ended

    def failures(self) -> list[Failing]:
        """Every feed and account failing now, the longest first."""
        if not self.dialect.has_table(self._db, "failures"):
            return []  # a view of a state from before them: views are never upgraded
        rows = self._rows("SELECT kind, name, since, last_error FROM failures ORDER BY since")
        return [self._failing(row) for row in rows]

    def _failure(self, kind: str, name: str) -> Failing | None:
        row = self._row(
            "SELECT kind, name, since, last_error FROM failures WHERE kind = ? AND name = ?",
            (kind, name),
        )
        return self._failing(row) if row else None

    def _failing(self, row: Any) -> Failing:
        since = self.dialect.moment(row["since"])
        return Failing(row["kind"], row["name"], since, row["last_error"])

    def record_rate_limit(self, instance: str, account: str, reset_at: datetime) -> None:
        """The instance refused `account`'s posts until `reset_at` (a 429): no process of this
        state posts there before. Seen by the others when it returns."""
        self._shared_write(
            "INSERT INTO account_limits (instance, account, reset_at) VALUES (?, ?, ?) "
            "ON CONFLICT (instance, account) DO UPDATE SET reset_at = excluded.reset_at",
            (instance, account, self.dialect.stamp(reset_at)),
        )

    def rate_limited_until(self, instance: str, account: str) -> datetime | None:
        """When a recorded rate limit of the account ends, if it has not yet."""
        rows = self._shared_rows(
            "SELECT reset_at FROM account_limits WHERE instance = ? AND account = ? "
            "AND reset_at > ?",
            (instance, account, self.dialect.stamp(now_utc())),
        )
        return self.dialect.moment(rows[0]["reset_at"]) if rows else None

    def record_heartbeat(self, worker: str, heartbeat: Heartbeat) -> None:
        stamp = self.dialect.stamp
        self._shared_write(
            f"INSERT INTO workers ({HEARTBEAT_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (worker) DO UPDATE SET "
            "interval_seconds = excluded.interval_seconds, last_run_at = excluded.last_run_at, "
            "last_exit_code = excluded.last_exit_code, last_success_at = excluded.last_success_at",
            (
                worker,
                heartbeat.interval_seconds,
                stamp(heartbeat.last_run_at),
                heartbeat.last_exit_code,
                stamp(heartbeat.last_success_at),
            ),
        )

    def heartbeat(self, worker: str) -> Heartbeat | None:
        rows = self._shared_rows(
            f"SELECT {HEARTBEAT_COLUMNS} FROM workers WHERE worker = ?", (worker,)
        )
        return self._heartbeat(rows[0]) if rows else None

    def newest_heartbeat(self, worker_prefix: str) -> tuple[str, Heartbeat] | None:
        """The most recent heartbeat of the workers whose name starts with `worker_prefix`,
        with that name: how `health` finds an unnamed loop (named host-pid) on its host."""
        rows = self._shared_rows(
            f"SELECT {HEARTBEAT_COLUMNS} FROM workers WHERE substr(worker, 1, ?) = ? "
            "ORDER BY last_run_at DESC LIMIT 1",
            (len(worker_prefix), worker_prefix),
        )
        return (rows[0]["worker"], self._heartbeat(rows[0])) if rows else None

    def _heartbeat(self, row: Any) -> Heartbeat:
        return Heartbeat(
            interval_seconds=row["interval_seconds"],
            last_run_at=self.dialect.moment(row["last_run_at"]),
            last_exit_code=row["last_exit_code"],
            last_success_at=self.dialect.moment(row["last_success_at"]),
        )
