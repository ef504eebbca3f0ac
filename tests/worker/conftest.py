"""A real Celery worker against the real Redis and the test database."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import REPO


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def broker():
    """Point this process's Celery app at Redis (tests otherwise run tasks in-process)."""
    from scriptorium.celery import app

    url = os.environ["TEST_REDIS_URL"]
    redis.Redis.from_url(url).flushdb()
    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=url, task_always_eager=False)
    app._pool = None
    app.amqp._producer_pool = None
    yield url
    app.conf.update(saved)
    app._pool = None
    app.amqp._producer_pool = None


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


@pytest.fixture
def worker(broker, transactional_db, tmp_path):
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": broker, "DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "scriptorium", "worker", "-Q", "sandbox,synthesis,training,eval",
         "-c", "1", "--pool", "prefork", "-l", "info", "-n", f"test-{os.getpid()}@%h",
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
    yield handle
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")
