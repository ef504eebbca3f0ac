"""Builds the C init (_init.c) with gcc at first use and caches the binary by its source hash.

Optional by design: without a C compiler and libc headers, the slots run _init.py instead,
which is as isolated and speaks the same protocol, at roughly half the throughput.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

from sandbox.hostfiles import private_dir

SOURCE = Path(__file__).with_name("_init.c")
_lock = threading.Lock()
_built: dict[str, str | None] = {}


def native_init_path() -> str | None:
    """Path of the compiled init, or None when it cannot be built here."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    with _lock:
        path = _built.get(digest)
        if digest not in _built or (path and not os.path.exists(path)):  # /tmp may have been cleaned
            _built[digest] = _build(digest)
        return _built[digest]


def _build(digest: str) -> str | None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if not compiler:
        return None
    try:
        directory = private_dir()
    except OSError:
        return None
    target = os.path.join(directory, f"init-{digest}")
    if os.path.isfile(target) and os.access(target, os.X_OK):
        return target
    partial = f"{target}.{os.getpid()}.{threading.get_ident()}"
    try:
        done = subprocess.run([compiler, "-O2", "-Wall", "-o", partial, str(SOURCE)],
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    os.chmod(partial, 0o755)
    os.replace(partial, target)  # atomic: a concurrent builder never sees half a binary
    return target
