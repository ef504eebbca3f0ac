"""The host-side files the sandbox keeps: one private directory per effective uid.

It holds the compiled C init and the uid locks. /tmp is shared with everyone, so a
directory found there is used only if it is ours, not a symlink, and writable by us alone.
"""
from __future__ import annotations

import os
import stat
import tempfile


def private_dir(*parts: str) -> str:
    base = os.path.join(tempfile.gettempdir(), f"scriptorium-sandbox-{os.geteuid()}")
    for path in [base] + [os.path.join(base, *parts[:i + 1]) for i in range(len(parts))]:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise PermissionError(f"{path} is not a private directory of uid {os.geteuid()}; remove it")
    return os.path.join(base, *parts)
