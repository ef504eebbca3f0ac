from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox import Pool
from sandbox.limits import Limits
from sandbox.pack import load_pack

LUA_PACK = Path(__file__).resolve().parents[2] / "languages" / "lua"
# Small limits keep the hostile battery fast; every timeout costs at most this much.
SMALL = Limits(wall_seconds=2.0, cpu_seconds=1.0, memory_mb=128, processes=16, output_bytes=65536,
               file_bytes=1 << 20)
SHORT = Limits(wall_seconds=1.0, cpu_seconds=0.5)  # for programs that are meant to time out


@pytest.fixture(scope="session")
def pack():
    return load_pack(LUA_PACK)


@pytest.fixture(scope="session", params=["c-init", "python-init"])
def init_kind(request) -> str:
    """Both inits run the hostile battery: the C one, and the Python one used without gcc."""
    return request.param


@pytest.fixture(scope="session")
def pool(init_kind):
    with Pool(2, native=init_kind == "c-init") as shared:
        shared.warm_up()
        yield shared


@pytest.fixture
def single_pool(init_kind):
    """One slot, so consecutive programs are known to share it."""
    with Pool(1, native=init_kind == "c-init") as one:
        yield one


def processes_of(uids) -> list[tuple[int, str]]:
    """Host processes whose real uid is one of `uids`: a sandboxed program that outlived its run."""
    wanted = {str(uid) for uid in uids}
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        uid_line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
        if uid_line.split()[1:2] and uid_line.split()[1] in wanted:
            found.append((int(name), cmdline))
    return found


def assert_nothing_left(pool: Pool) -> None:
    assert pool.uids(), "the pool never started a slot"
    assert processes_of(pool.uids()) == []
