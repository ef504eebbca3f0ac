"""Settings come from the environment; production settings pass Django's deploy checks."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def _manage(*args, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT", "CELERY_BROKER_URL",
                                                             "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_production_settings_pass_check_deploy(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env={
        "SECRET_KEY": "x7#Qm2!vR9@pL4$wZ8^kT1&nB6*hJ3(yF5)dS0_cG2+eU7=aWq4%tY8~iO3",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/scriptorium",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "DATA_DIR": str(tmp_path),
    })
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_missing_secret_key_outside_debug_is_refused(tmp_path):
    result = _manage("check", env={"DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_no_database_url_means_sqlite_in_the_data_dir(tmp_path):
    code = "from django.conf import settings; print(settings.DATABASES['default']['NAME']); print(settings.CELERY_TASK_ALWAYS_EAGER)"
    result = _manage("shell", "--no-imports", "-c", code, env={"DEBUG": "1", "DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    name, eager = result.stdout.split()
    assert name == str(tmp_path / "scriptorium.sqlite3")
    assert eager == "True"


def test_database_url_selects_postgres_and_broker_turns_off_in_process_tasks(tmp_path):
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE']); print(settings.CELERY_TASK_ALWAYS_EAGER)"
    result = _manage("shell", "--no-imports", "-c", code, env={"DEBUG": "1", "DATA_DIR": str(tmp_path),
                                               "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/scriptorium",
                                               "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "False"]
