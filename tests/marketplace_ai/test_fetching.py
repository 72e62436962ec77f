"""Fetching web pages without becoming a way into private networks (SSRF)."""

import ipaddress
import socket

import pytest

from marketplace_ai import fetching
from marketplace_ai.errors import UrlFetchFailed, UrlRefused
from marketplace_ai.fetching import address_is_public, fetch_url


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),  # noqa: S104 - an address under test, not a bind
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:93.184.216.34", True),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_only_global_unicast_addresses_are_public(address, public):
    assert address_is_public(ipaddress.ip_address(address)) is public


def _fetch(url, **kwargs):
    options = {"max_bytes": 1024 * 1024, "timeout": 5, "allow_private": False}
    options.update(kwargs)
    return fetch_url(url, **options)


def test_a_loopback_server_is_refused_by_default_and_never_contacted(local_site):
    with pytest.raises(UrlRefused) as raised:
        _fetch(local_site.url("/shipping"))

    assert raised.value.code == "url_private_address"
    assert local_site.paths == []


def test_a_host_name_resolving_to_a_private_address_is_refused(local_site):
    with pytest.raises(UrlRefused) as raised:
        _fetch(local_site.url("/shipping", host="localhost"))

    assert raised.value.code == "url_private_address"
    assert local_site.paths == []


def test_every_resolved_address_is_checked():
    def resolver(host, port, type):  # one public and one private answer
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    with pytest.raises(UrlRefused) as raised:
        _fetch("http://mixed.example/", resolver=resolver)

    assert "10.0.0.5" in raised.value.detail


def test_the_page_is_fetched_when_private_addresses_are_allowed(local_site):
    page = _fetch(local_site.url("/shipping"), allow_private=True)

    assert page.content_type == "text/html"
    assert b"Parcels leave our warehouse" in page.content
    assert local_site.paths == ["/shipping"]


def test_a_redirect_is_checked_again_before_it_is_followed(local_site, monkeypatch):
    """The test server (127.0.0.1) plays a public web site; it redirects to a host that resolves to another
    loopback address (127.0.0.2), which is refused before any request is sent there."""
    real_check = fetching.address_is_public
    monkeypatch.setattr(
        fetching, "address_is_public", lambda address: str(address) == "127.0.0.1" or real_check(address)
    )
    local_site.redirects["/start"] = local_site.url("/shipping", host="internal.test")

    def resolver(host, port, type):
        address = "127.0.0.2" if host == "internal.test" else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    with pytest.raises(UrlRefused) as raised:
        _fetch(local_site.url("/start", host="public.test"), resolver=resolver)

    assert raised.value.code == "url_private_address"
    assert raised.value.detail == (
        "The host internal.test resolves to a private or reserved address (127.0.0.2); it is not fetched."
    )
    assert local_site.paths == ["/start"]


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(local_site, monkeypatch):
    """DNS is asked once per hop and the connection uses that answer (no second lookup to rebind)."""
    monkeypatch.setattr(fetching, "address_is_public", lambda address: True)
    lookups = []

    def resolver(host, port, type):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    page = _fetch(local_site.url("/shipping", host="shop.test"), resolver=resolver)

    assert b"Parcels" in page.content
    assert lookups == ["shop.test"]


def test_redirect_loops_and_other_schemes_are_refused(local_site):
    local_site.redirects["/loop"] = "/loop"
    local_site.redirects["/file"] = "file:///etc/passwd"

    with pytest.raises(UrlRefused) as loop:
        _fetch(local_site.url("/loop"), allow_private=True)
    with pytest.raises(UrlRefused) as scheme:
        _fetch(local_site.url("/file"), allow_private=True)

    assert (loop.value.code, scheme.value.code) == ("url_redirects", "url_scheme")
    assert local_site.paths.count("/loop") == 6


def test_size_limit_timeout_and_errors(local_site):
    with pytest.raises(UrlRefused) as too_large:
        _fetch(local_site.url("/shipping"), allow_private=True, max_bytes=100)
    with pytest.raises(UrlFetchFailed):
        _fetch(local_site.url("/broken"), allow_private=True)
    with pytest.raises(UrlRefused) as missing:
        _fetch(local_site.url("/missing"), allow_private=True)

    assert too_large.value.code == "document_too_large"
    assert missing.value.detail == "The page answered 404 Not Found."


def test_a_server_that_does_not_answer_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        with pytest.raises(UrlFetchFailed) as raised:
            _fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/", allow_private=True, timeout=0.3)
    finally:
        listener.close()

    assert raised.value.detail == "127.0.0.1 did not answer within 0.3 seconds."
