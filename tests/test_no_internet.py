"""The guard every test runs under (conftest's no_internet, support.no_internet): loopback
resolves and connects; any other name is answered as unknown and fails the test."""

from __future__ import annotations

import socket

import pytest

from crossposter.net.addresses import AddressPolicy, BlockedAddress

from support.no_internet import NoInternet

LOOKUPS = [
    pytest.param(lambda host: socket.getaddrinfo(host, 443), id="getaddrinfo"),
    pytest.param(lambda host: socket.gethostbyname(host), id="gethostbyname"),
    pytest.param(lambda host: socket.gethostbyname_ex(host), id="gethostbyname_ex"),
]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.2", "::1"])
def test_loopback_still_resolves(host):
    assert socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)


@pytest.mark.refused_lookup("blog.example.org")
@pytest.mark.parametrize("lookup", LOOKUPS)
def test_another_name_is_unknown_and_the_error_names_it(lookup):
    with pytest.raises(socket.gaierror, match=r"'blog\.example\.org'") as refused:
        lookup("blog.example.org")
    assert refused.value.errno == socket.EAI_NONAME


@pytest.mark.refused_lookup("blog.example.org")
def test_the_public_address_rule_takes_it_for_a_name_that_does_not_resolve():
    with pytest.raises(BlockedAddress, match=r"blog\.example\.org: cannot resolve"):
        AddressPolicy().address_for("blog.example.org", 443)


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_an_undeclared_lookup_is_remembered_so_the_test_fails(lookup, monkeypatch):
    guard = NoInternet()
    guard.install(monkeypatch.setattr)  # a second guard over conftest's, so conftest's sees nothing
    with pytest.raises(socket.gaierror):
        lookup("Feeds.Example.NET")
    assert guard.unexpected([]) == ["Feeds.Example.NET"]
    assert guard.unexpected(["feeds.example.net"]) == []
    assert guard.never_tried(["feeds.example.net", "other.example"]) == ["other.example"]


def test_an_address_written_out_asks_no_one_but_cannot_be_reached(monkeypatch):
    guard = NoInternet()
    guard.install(monkeypatch.setattr)
    assert socket.getaddrinfo("192.0.2.1", 80, type=socket.SOCK_STREAM)
    assert guard.refused == []
    with socket.socket() as sock, pytest.raises(OSError, match="loopback only"):
        sock.connect(("192.0.2.1", 80))


@pytest.mark.refused_lookup("child.example")
def test_a_python_process_the_test_starts_is_guarded_and_its_lookups_reach_the_test():
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", "import socket; socket.getaddrinfo('child.example', 80)"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert child.returncode != 0 and "tests resolve loopback only" in child.stderr
    # Without the marker above, the test would fail at teardown on this name.
