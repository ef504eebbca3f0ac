"""Outbound HTTP to model endpoints, refusing private networks (SSRF).

A teacher endpoint is a URL a user typed. Without a check it could point the server at
127.0.0.1:5432, the cloud metadata service at 169.254.169.254, or a host on the private
network. Every address a host name resolves to is checked, and again at each redirect;
an admin allow-lists hosts (ENDPOINT_ALLOWED_HOSTS) for a local vLLM or Ollama.
"""
from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from typing import Iterable
from urllib.parse import urlsplit


class EndpointRefused(ValueError):
    """The URL is not one the server may call."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_endpoint(url: str, *, allowed_hosts: Iterable[str] = ()) -> str:
    """Return the URL if it is http(s) and every address its host resolves to is public
    (or the host is allow-listed); raise EndpointRefused saying why otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise EndpointRefused(f"{url!r}: only http and https endpoints are allowed")
    host = parts.hostname
    if not host:
        raise EndpointRefused(f"{url!r}: no host name")
    if parts.username or parts.password:
        raise EndpointRefused(f"{url!r}: credentials in the URL are not allowed; use the API key setting")
    if host.lower() in {h.strip().lower() for h in allowed_hosts if h.strip()}:
        return url
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise EndpointRefused(f"{url!r}: the host does not resolve ({exc.strerror})") from None
    for info in infos:
        address = info[4][0]
        if not _is_public(address):
            raise EndpointRefused(
                f"{url!r}: {host} resolves to {address}, a private, loopback or link-local address; "
                "an admin must allow-list the host (ENDPOINT_ALLOWED_HOSTS) to use it")
    return url


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, allowed_hosts: Iterable[str]):
        self.allowed_hosts = tuple(allowed_hosts)

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_endpoint(newurl, allowed_hosts=self.allowed_hosts)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def guarded_opener(allowed_hosts: Iterable[str] = ()) -> urllib.request.OpenerDirector:
    """An opener whose redirects are checked like the first URL (a public host must not
    bounce the server into the private network)."""
    return urllib.request.build_opener(_CheckedRedirects(allowed_hosts))
