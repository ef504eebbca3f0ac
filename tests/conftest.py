from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from curation.roles import ADMIN, PM, REVIEWER

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _live_server_backlog():
    """A live server that takes a burst of connections as a real one does. Django's test
    server listens with a backlog of 10; fifty reviewers released by one barrier overflowed
    it and the kernel reset a connection now and then (ConnectionResetError, a flaky test),
    where gunicorn's backlog is 2048. Set before any live server starts (listen() happens
    when the server is made)."""
    from django.core.servers.basehttp import WSGIServer

    WSGIServer.request_queue_size = 128
    yield


LUA_PACK = REPO / "languages" / "lua"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A freshly built tiny base (tokenizer + ~1M-parameter Llama) in a session temp dir:
    the training runner trains it, synthesis jobs sample from and score with it."""
    from tests.training.lua_samples import LUA_KEEP_WHOLE, LUA_SNIPPETS
    from training.tiny_base import build_tiny_base

    return build_tiny_base(LUA_SNIPPETS, tmp_path_factory.mktemp("tiny-base"), keep_whole=LUA_KEEP_WHOLE, seed=0)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_base):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)


@pytest.fixture
def lua_pack_copy(tmp_path) -> Path:
    """A private copy of the Lua pack that a test may break."""
    target = tmp_path / "lua"
    shutil.copytree(LUA_PACK, target)
    return target


def _user(role: str, name: str | None = None):
    from curation.actions import do_create_user

    return do_create_user(name or role, role=role, password=PASSWORD)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Users are made in many tests; PBKDF2's deliberate slowness (about a second a hash
    # here) buys nothing in them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def reviewer(db):
    return _user(REVIEWER)


@pytest.fixture
def pm(db):
    return _user(PM)


@pytest.fixture
def admin_user(db):
    return _user(ADMIN, "boss")


@pytest.fixture
def member(reviewer, lua):
    """A reviewer of the Lua language."""
    lua.members.add(reviewer)
    return reviewer


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def lua(db):
    """The Lua pack loaded into the test database. The sandbox checks that onboarding runs
    are covered by tests/curation/test_onboard.py; here they would only cost time."""
    from django.db import transaction

    from curation.actions import _store_pack
    from curation.packs import read_pack

    with transaction.atomic():
        return _store_pack(read_pack(LUA_PACK)).language
