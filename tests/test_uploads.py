"""Oversized request bodies and uploads: refused with a message that says what the limit
is, without holding the body in memory, and with the database unchanged.

The requests go through the real middleware with CSRF enforced, as a browser's would, and
their bodies are generated as Django reads them: a test of a 50 MB upload never holds 50 MB.
"""
from __future__ import annotations

import json
import tracemalloc

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from evaluation.models import EvalRun, Suite
from evaluation.multiple import MAX_FILE_BYTES
from tests.test_permissions import EXPECT, database_state, world  # noqa: F401 — world is a fixture

CSRF = "k" * 32  # an unmasked CSRF secret: the cookie and the header carry the same
BOUNDARY = "scriptorium-upload-test"


class GeneratedBody:
    """A request body made on demand: `head`, then `size` filler bytes, then `tail`;
    counts what was read, so a test can tell whether Django read the body at all."""

    def __init__(self, head: bytes, size: int, tail: bytes, filler: bytes = b"x"):
        self.head, self.size, self.tail, self.filler = head, size, tail, filler
        self.length = len(head) + size + len(tail)
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.length - self.read_bytes
        out = bytearray()
        while n > 0 and self.read_bytes < self.length:
            pos = self.read_bytes
            if pos < len(self.head):
                piece = self.head[pos:pos + n]
            elif pos < len(self.head) + self.size:
                piece = self.filler * min(n, len(self.head) + self.size - pos)
            else:
                start = pos - len(self.head) - self.size
                piece = self.tail[start:start + n]
            out += piece
            self.read_bytes += len(piece)
            n -= len(piece)
        return bytes(out)

    def readline(self, limit: int = -1) -> bytes:  # WSGI asks for it; Django's parser does not
        return self.read(limit if limit > 0 else 1 << 16)


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.cookies["csrftoken"] = CSRF
    return client


def _post_generated(client: Client, url: str, body: GeneratedBody, content_type: str):
    return client.request(REQUEST_METHOD="POST", PATH_INFO=url, CONTENT_TYPE=content_type,
                          CONTENT_LENGTH=str(body.length), HTTP_X_CSRFTOKEN=CSRF, **{"wsgi.input": body})


def _multipart_file(name: str, size: int) -> GeneratedBody:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return GeneratedBody(head, size, tail)


@pytest.mark.django_db
def test_benchmark_upload_over_the_limit_is_refused_without_being_held_in_memory(world):
    client = _csrf_client(world.users["admin"])
    url = reverse("evaluation-import-suite", args=["lua"])
    body = _multipart_file("huge.jsonl", MAX_FILE_BYTES + 1)
    suites, before = Suite.objects.count(), database_state()
    tracemalloc.start()
    try:
        response = _post_generated(client, url, body, f"multipart/form-data; boundary={BOUNDARY}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert f"huge.jsonl: file is {MAX_FILE_BYTES + 1} bytes, over the limit of {MAX_FILE_BYTES}" \
        in response.content.decode()
    # Django streamed it to a temporary file in 64 KB chunks: the process never held it.
    assert body.read_bytes == body.length
    assert peak < 8 << 20, f"peak memory {peak} bytes while refusing a {body.length}-byte upload"
    assert Suite.objects.count() == suites and database_state() == before


@pytest.mark.django_db
def test_benchmark_upload_under_the_limit_still_imports(world):
    """The size check refuses only what is over the limit: a small valid file goes through
    the same streamed, CSRF-checked path and becomes a suite."""
    from tests.evaluation.conftest import HUMANEVAL_LUA

    lines = b"".join(HUMANEVAL_LUA.read_bytes().splitlines(keepends=True)[:3])
    client = _csrf_client(world.users["admin"])
    body = _multipart_file("he-three.jsonl", 0)
    body.head += lines
    body.length += len(lines)
    response = _post_generated(client, reverse("evaluation-import-suite", args=["lua"]), body,
                               f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code == 302
    assert Suite.objects.get(language__slug="lua", name="he-three").problems.count() == 3


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
@pytest.mark.parametrize("name", ["evaluation-api-runs", "evaluation-api-assistant"])
def test_json_api_body_over_the_limit_is_refused_unread_with_the_limit(world, name):
    client = _csrf_client(world.users["pm"])
    padding = json.dumps({"checkpoint": world.own.checkpoint.pk, "suite": world.own.suite.name, "prompt": ""})
    body = GeneratedBody(padding[:-1].encode() + b', "pad": "', 4096, b'"}', filler=b"p")
    runs, before = EvalRun.objects.count(), database_state()
    response = _post_generated(client, reverse(name), body, "application/json")
    assert response.status_code == 413
    assert response.json() == {"error": "the request body is over the limit of 1024 bytes"}
    assert body.read_bytes == 0, "the body was read before being refused"
    assert EvalRun.objects.count() == runs and database_state() == before


POST_ROUTES = sorted(name for name, expect in EXPECT.items() if expect.post[2] not in (403, 404, 405))


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
@pytest.mark.parametrize("name", POST_ROUTES)
def test_form_body_over_the_limit_is_refused_unread_on_every_route(world, name):
    """Every route an admin may POST to: a form body over DATA_UPLOAD_MAX_MEMORY_SIZE is
    refused (Django: 400; the JSON API: 413 with the limit) from its Content-Length alone."""
    client = _csrf_client(world.users["admin"])
    url = reverse(name, kwargs=EXPECT[name].kwargs(world.own))
    body = GeneratedBody(b"field=", 4096, b"")
    before = database_state()
    response = _post_generated(client, url, body, "application/x-www-form-urlencoded")
    assert response.status_code in (400, 413), (url, response.status_code)
    assert body.read_bytes == 0, f"{url} read the body before refusing it"
    assert database_state() == before


@pytest.mark.django_db
def test_request_over_the_whole_request_limit_is_refused_by_its_length_before_anything_reads_it(world):
    """A 1 GB upload, declared: refused from its Content-Length with 413 and the limit,
    before the CSRF middleware would spool it to disk (0 bytes read)."""
    from django.conf import settings

    client = _csrf_client(world.users["admin"])
    body = _multipart_file("one-gigabyte.jsonl", 1 << 30)
    before = database_state()
    response = _post_generated(client, reverse("evaluation-import-suite", args=["lua"]), body,
                               f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code == 413
    assert f"over the limit of {settings.REQUEST_MAX_BYTES} bytes" in response.content.decode()
    assert body.read_bytes == 0
    assert database_state() == before
