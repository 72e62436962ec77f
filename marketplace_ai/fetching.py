"""Fetch a web page for a knowledge base, safely.

The worker fetches URLs that buyers type in, so it must not become a way into our own network (SSRF):
the host is resolved, and every address it resolves to must be public (not private, loopback,
link-local, multicast, reserved or otherwise non-global); the connection then goes to the address that
was checked, so a second DNS answer cannot swap it (TLS still verifies the certificate of the host name).
Redirects are followed by hand, up to a limit, and each new location is checked the same way. Bodies are
read as a stream and cut off at the size limit; every step has a timeout. Private addresses are allowed
only when KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE is on (an intranet deployment).
"""

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from marketplace_ai.errors import UrlFetchFailed, UrlRefused

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "CMP-Knowledge-Fetcher/1.0 (+training documents)"
ACCEPT = "text/html,application/xhtml+xml,text/plain,text/markdown,application/pdf;q=0.9,*/*;q=0.1"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list]


@dataclass(frozen=True)
class FetchedPage:
    url: str
    content: bytes
    content_type: str


def address_is_public(address: Address) -> bool:
    """A globally routable unicast address; IPv4 addresses mapped or embedded in IPv6 are judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return address_is_public(embedded)
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> Address:
    """The address to connect to; refuses the host if any of its addresses is not public."""
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UrlRefused(f"The host {host} does not exist.", code="url_host_unknown") from error
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not allow_private and not address_is_public(address):
            raise UrlRefused(
                f"The host {host} resolves to a private or reserved address ({address}); it is not fetched.",
                code="url_private_address",
            )
        addresses.append(address)
    if not addresses:
        raise UrlRefused(f"The host {host} has no address.", code="url_host_unknown")
    return addresses[0]


def _checked_target(url: str, *, allow_private: bool, resolver: Resolver) -> tuple[httpx.URL, str, Address]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("Only http and https addresses can be added.", code="url_scheme")
    if not parts.hostname:
        raise UrlRefused("The address has no host name.", code="url_invalid")
    if parts.username or parts.password:
        raise UrlRefused("Addresses with a user name or password are not fetched.", code="url_credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UrlRefused("The address has an invalid port.", code="url_invalid") from error
    address = resolve(parts.hostname, port, allow_private=allow_private, resolver=resolver)
    return httpx.URL(url), parts.hostname, address


def _pinned_request(client: httpx.Client, url: httpx.URL, host: str, address: Address) -> httpx.Request:
    """A request to `url` that connects to `address` while keeping the Host header and TLS name of `host`."""
    pinned = url.copy_with(host=str(address))
    host_header = host if url.port is None else f"{host}:{url.port}"
    headers = {"Host": host_header, "User-Agent": USER_AGENT, "Accept": ACCEPT}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    return client.build_request("GET", pinned, headers=headers, extensions=extensions)


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allow_private: bool,
    resolver: Resolver = socket.getaddrinfo,
    transport: httpx.BaseTransport | None = None,
) -> FetchedPage:
    """GET `url` under the rules above. Raises UrlRefused (permanent) or UrlFetchFailed (try again later)."""
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 5.0))
    with httpx.Client(
        timeout=timeouts, follow_redirects=False, trust_env=False, transport=transport
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            target, host, address = _checked_target(url, allow_private=allow_private, resolver=resolver)
            request = _pinned_request(client, target, host, address)
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException as error:
                raise UrlFetchFailed(f"{host} did not answer within {timeout:g} seconds.") from error
            except httpx.HTTPError as error:
                raise UrlFetchFailed(f"{host} could not be reached ({type(error).__name__}).") from error
            try:
                if response.status_code in REDIRECT_STATUSES and response.headers.get("location"):
                    url = urljoin(url, response.headers["location"])
                    continue
                return _read(response, url=url, host=host, max_bytes=max_bytes)
            finally:
                response.close()
    raise UrlRefused(f"The address redirects more than {MAX_REDIRECTS} times.", code="url_redirects")


def _read(response: httpx.Response, *, url: str, host: str, max_bytes: int) -> FetchedPage:
    status = response.status_code
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise UrlFetchFailed(f"{host} answered {status}; trying again later.")
    if status >= 400:
        raise UrlRefused(f"The page answered {status} {response.reason_phrase}.", code="url_error_status")
    if status != 200:
        raise UrlRefused(f"The page answered {status} instead of content.", code="url_error_status")
    too_large = UrlRefused(
        f"The page is larger than {max_bytes // (1024 * 1024)} MB.", code="document_too_large"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    try:
        for piece in response.iter_bytes():
            body.extend(piece)
            if len(body) > max_bytes:
                raise too_large
    except httpx.TimeoutException as error:
        raise UrlFetchFailed(f"{host} stopped sending the page.") from error
    except httpx.HTTPError as error:
        raise UrlFetchFailed(f"Reading the page from {host} failed ({type(error).__name__}).") from error
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return FetchedPage(url=url, content=bytes(body), content_type=content_type)
