"""The README's walkthrough, followed literally: its onboarding commands, as printed, on a
fresh embedded database, with the second, small pack (languages/tcl) it names."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _shell_block(section: str) -> str:
    readme = (REPO / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", body, re.S)
    assert blocks, f"README.md: no sh block under '## {section}'"
    return blocks[0]


def test_onboarding_walkthrough_works_as_printed(tmp_path):
    script = _shell_block("Onboarding a language")
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}}
    # The README runs `.venv/bin/python`; a test run may use another venv's interpreter.
    venv = Path(sys.executable).parent.parent
    env.update(DATA_DIR=str(tmp_path), PATH=f"{venv / 'bin'}:{env['PATH']}")
    script = script.replace(".venv/bin/python", str(venv / "bin" / "python"))
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^Tcl 8\.6: \d+ doc sections, \d+ examples", result.stdout, re.M), result.stdout
    with sqlite3.connect(tmp_path / "scriptorium.sqlite3") as db:
        languages = [row[0] for row in db.execute("SELECT slug FROM curation_language")]
        users = [row[0] for row in db.execute("SELECT username FROM auth_user")]
    assert languages == ["tcl"]
    assert users == ["maria"]
