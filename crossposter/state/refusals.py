"""Why PostgreSQL refused crossposter, when a person must change something for it to work.

At connection time the driver gives no SQLSTATE, only libpq's message, so a refused
login is recognised by the server's own words; once connected, by the SQLSTATE. What is
not recognised here is left to the caller: a server out of reach, shutting down or
asking for a transaction to be tried again is temporary.
"""

from __future__ import annotations

import re

import psycopg

# libpq's words for a login a person must fix, with what to change. Under password
# authentication the server answers an unknown role as a wrong password, on purpose.
_REFUSED_LOGINS = (
    (
        re.compile(r'password authentication failed for user "([^"]*)"'),
        "the server refused the password of the user {0} (or there is no such user): "
        "check the user and the password (in state_url, PGPASSWORD or ~/.pgpass)",
    ),
    (
        re.compile(r'role "([^"]*)" does not exist'),
        'there is no role (user) "{0}" on the server: create it, or fix the user in state_url',
    ),
    (
        re.compile(r'database "([^"]*)" does not exist'),
        'there is no database "{0}" on the server: create it (createdb), '
        "or fix its name in state_url",
    ),
    (
        re.compile(r"no password supplied"),
        "the server asks for a password and none was given: put it in PGPASSWORD, "
        "~/.pgpass or state_url",
    ),
    (
        re.compile(r"no pg_hba\.conf entry for"),
        "the server does not let this user in from this machine (its pg_hba.conf)",
    ),
)

# The same causes, once a SQLSTATE says them (a login refused after connecting).
_REFUSED_STATES = (
    psycopg.errors.InvalidPassword,
    psycopg.errors.InvalidAuthorizationSpecification,
    psycopg.errors.InvalidCatalogName,
)


def refused_login(error: Exception) -> str | None:
    """What a person must change for the server to let crossposter in; None otherwise."""
    if not isinstance(error, psycopg.OperationalError | psycopg.DatabaseError):
        return None
    text = str(error)
    for pattern, cause in _REFUSED_LOGINS:
        found = pattern.search(text)
        if found:
            return cause.format(*found.groups())
    if isinstance(error, _REFUSED_STATES):
        return f"the server refused the login ({one_line(text)})"
    return None


def one_line(text: str) -> str:
    """libpq's messages span lines (a hint on the next, tab-indented): one line of them."""
    return " ".join(text.split())
