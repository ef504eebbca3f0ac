"""The demo, end to end and small: on the embedded default (SQLite, in-process) and on the
services (Postgres, Redis and a real Celery worker started by scripts/demo-services)."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from psycopg import sql

from tests.conftest import REPO

pytestmark = pytest.mark.slow
# Few samples, a few training steps, the pack's 12 test problems: the whole path, quickly.
SMALL = ["--scale", "0.02", "--suites", "lua-test", "--job-timeout", "600"]
TABLE_ROW = re.compile(r"^lua-test\s+Compile@1\s+(\S+)\s+(\S+)", re.M)


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE"}}
    return {**env, "DEBUG": "1", **extra}


def _job_statuses(rows) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (status,) in rows:
        counts[status] = counts.get(status, 0) + 1
    return counts


@pytest.fixture
def demo_database():
    """A database of its own on the test server, dropped afterwards."""
    url = urlsplit(os.environ["DATABASE_URL"])
    name = f"scriptorium_demo_test_{os.getpid()}"
    admin = url._replace(path="/postgres").geturl()

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    drop()
    yield url._replace(path=f"/{name}").geturl()
    drop()


def test_demo_on_the_embedded_default_runs_in_process_on_sqlite(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "demo", *SMALL], cwd=REPO, capture_output=True, text=True,
                            env=_clean_env(DATA_DIR=str(tmp_path)), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ready: sqlite3" in result.stdout
    assert "jobs run in-process" in result.stdout
    assert re.search(r"^  [1-9]\d* samples waiting for review", result.stdout, re.M), result.stdout[-2000:]
    assert TABLE_ROW.search(result.stdout), result.stdout[-2000:]
    with sqlite3.connect(tmp_path / "scriptorium.sqlite3") as db:
        statuses = _job_statuses(db.execute("SELECT status FROM curation_job"))
        checkpoints = db.execute("SELECT count(*) FROM training_checkpoint").fetchone()[0]
    assert set(statuses) == {"succeeded"}, statuses
    assert checkpoints >= 3  # the base, CPT, SFT


@pytest.mark.worker
def test_demo_on_the_services_sends_every_job_to_a_celery_worker(tmp_path, demo_database):
    broker = os.environ["TEST_REDIS_URL"]
    redis.Redis.from_url(broker).flushdb()
    env = _clean_env(DATA_DIR=str(tmp_path), DATABASE_URL=demo_database, CELERY_BROKER_URL=broker,
                     PY=sys.executable, WORKER_CONCURRENCY="2")
    result = subprocess.run(["bash", "scripts/demo-services", *SMALL], cwd=REPO, capture_output=True, text=True,
                            env=env, timeout=1200)
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + worker_log[-3000:]
    assert "ready: postgresql" in result.stdout
    assert "jobs go to 1 Celery worker(s)" in result.stdout
    assert re.search(r"^  [1-9]\d* samples waiting for review", result.stdout, re.M), result.stdout[-2000:]
    assert TABLE_ROW.search(result.stdout), result.stdout[-2000:]
    with psycopg.connect(demo_database) as conn:
        statuses = _job_statuses(conn.execute("SELECT status FROM curation_job"))
        jobs = conn.execute("SELECT count(*) FROM curation_job").fetchone()[0]
        samples = conn.execute("SELECT count(*) FROM curation_sample").fetchone()[0]
    assert set(statuses) == {"succeeded"}, statuses
    assert samples > 0
    # Every job ran in the worker: one "succeeded" line per job in its log.
    assert len(re.findall(r"Task \S+\[[0-9a-f-]+\] succeeded", worker_log)) == jobs, worker_log[-3000:]
