"""Which backend evaluates a checkpoint: one served elsewhere goes through the SSRF guard."""
from __future__ import annotations

import pytest

from evaluation.runner import backend_for
from training.endpoints import EndpointRefused
from training.models import Checkpoint


def _served(base_url: str) -> Checkpoint:
    return Checkpoint(name="served", method="sft", base_model="", path="/nowhere",
                      config={"endpoint": {"base_url": base_url, "model": "m", "chat": True}})


def test_a_checkpoint_served_on_a_private_address_is_refused(settings):
    settings.ENDPOINT_ALLOWED_HOSTS = []
    with pytest.raises(EndpointRefused):
        backend_for(_served("http://127.0.0.1:9/v1"))


def test_a_checkpoint_served_on_an_allowed_host_gets_the_guarded_client(settings):
    settings.ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    backend = backend_for(_served("http://127.0.0.1:9/v1"))
    assert backend.api_root == "http://127.0.0.1:9/v1" and backend.chat
    # the guard's opener re-checks every redirect (urllib's default would follow any)
    assert any(type(h).__name__ == "_CheckedRedirects" for h in backend.opener.handlers)
