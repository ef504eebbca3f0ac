"""A real Celery worker against the real Redis and the test database."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.conftest import REPO


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def _app_pointed_at(url: str):
    """This process's Celery app sends to `url` (tests otherwise run tasks in-process)."""
    from scriptorium.celery import app

    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=url, task_always_eager=False)
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield url
    finally:
        app.conf.update(saved)
        app._pool = None
        app.amqp._producer_pool = None


@pytest.fixture
def broker():
    """Point this process's Celery app at Redis (tests otherwise run tasks in-process)."""
    url = os.environ["TEST_REDIS_URL"]
    redis.Redis.from_url(url).flushdb()
    with _app_pointed_at(url):
        yield url


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path):
        self.process, self.log = process, log

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[int]:
        import psutil

        return [c.pid for c in psutil.Process(self.process.pid).children(recursive=True)]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(broker_url: str, folder: Path, *, name: str = "worker") -> Worker:
    """A worker process on every queue, one prefork child, logging to folder/<name>.log."""
    log = folder / f"{name}.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": broker_url, "DATA_DIR": str(folder)}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "scriptorium", "worker", "-Q", "sandbox,synthesis,training,eval",
         "-c", "1", "--pool", "prefork", "-l", "info", "-n", f"{name}-{os.getpid()}@%h",
         "--include", "tests.worker.tasks_for_tests", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    handle = Worker(process, log)
    deadline = time.monotonic() + 60
    while "ready." not in handle.output():
        if not handle.alive() or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the Celery worker did not start:\n" + handle.output()[-3000:])
        time.sleep(0.2)
    return handle


def stop_worker(handle: Worker) -> None:
    handle.process.terminate()
    try:
        handle.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        handle.process.kill()
        handle.process.wait()


@pytest.fixture
def worker(broker, transactional_db, tmp_path):
    handle = start_worker(broker, tmp_path, name="test")
    yield handle
    stop_worker(handle)


class RedisServer:
    """A redis-server of this test's own, on a free port, keeping nothing on disk: the
    shared Redis on 6379 serves other people and must never be stopped."""

    def __init__(self, folder: Path):
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.folder / f"redis-{self.starts}.log").open("w")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._answers, timeout=30, interval=0.05)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no shutdown, nothing saved."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def _answers(self) -> bool:
        try:
            return self.client().ping()
        except redis.ConnectionError:
            return False


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def own_broker(own_redis):
    """Like `broker`, on this test's own redis-server (which the test may kill)."""
    with _app_pointed_at(own_redis.url):
        yield own_redis


@pytest.fixture
def own_broker_worker(own_broker, transactional_db, tmp_path):
    handle = start_worker(own_broker.url, tmp_path, name="own-broker")
    yield handle
    stop_worker(handle)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")
