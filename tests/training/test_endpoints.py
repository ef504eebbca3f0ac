"""Model endpoints may not point the server at private networks (SSRF)."""
from __future__ import annotations

import http.server
import threading

import pytest

from training.endpoints import EndpointRefused, check_endpoint, guarded_opener


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:5432/v1", "http://localhost:6379", "http://[::1]:8000/v1", "http://10.0.0.5/v1",
    "http://192.168.1.10/v1", "http://172.16.0.1/v1", "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:127.0.0.1]/v1", "http://0.0.0.0:8000",
])
def test_private_loopback_and_link_local_endpoints_are_refused(url):
    with pytest.raises(EndpointRefused, match="private, loopback or link-local"):
        check_endpoint(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x", "ftp://example.com/"])
def test_non_http_schemes_are_refused(url):
    with pytest.raises(EndpointRefused, match="only http and https"):
        check_endpoint(url)


def test_credentials_in_the_url_are_refused():
    with pytest.raises(EndpointRefused, match="credentials"):
        check_endpoint("http://user:pw@127.0.0.1/v1", allowed_hosts=["127.0.0.1"])


def test_an_allow_listed_host_is_accepted():
    assert check_endpoint("http://127.0.0.1:8000/v1", allowed_hosts=["127.0.0.1"]) == "http://127.0.0.1:8000/v1"


def test_public_address_literal_is_accepted_without_lookup():
    assert check_endpoint("https://93.184.216.34/v1")


def test_redirect_into_the_private_network_is_refused():
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        opener = guarded_opener(allowed_hosts=["127.0.0.1"])  # the first hop is allowed, the bounce is not
        with pytest.raises(EndpointRefused, match="169.254.169.254"):
            opener.open(f"http://127.0.0.1:{server.server_address[1]}/v1/completions", timeout=5)
    finally:
        server.shutdown()


def test_teacher_endpoint_on_loopback_is_refused_unless_allow_listed(settings):
    from training.backend_settings import backend_from_spec

    spec = {"kind": "openai", "base_url": "http://127.0.0.1:6379/v1", "model": "m"}
    settings.ENDPOINT_ALLOWED_HOSTS = []
    with pytest.raises(EndpointRefused):
        backend_from_spec(spec)
    settings.ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    assert backend_from_spec(spec).model == "m"


def test_configured_teacher_is_checked_too(settings):
    from training.backend_settings import backend_from_spec

    settings.TEACHER_BASE_URL, settings.TEACHER_MODEL = "http://169.254.169.254/v1", "m"
    with pytest.raises(EndpointRefused):
        backend_from_spec(None)
