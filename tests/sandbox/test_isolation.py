"""The hostile battery: each program attacks one wall of the sandbox.

Every test asserts the verdict a user would see and that nothing leaked: no process of the
sandbox's uids left on the host, no file on the host, no secret in the result.
"""
from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

import pytest

from sandbox import Pool, Verdict, run
from sandbox.limits import Limits
from tests.sandbox.conftest import SHORT, SMALL, assert_nothing_left


def sh(command: str) -> str:
    """Lua that runs a shell command (inside the sandbox) with its output on stdout."""
    return f"io.stdout:setvbuf('no') os.execute([==[{command}]==])"


def test_cpu_loop_times_out(pack, pool):
    # A generous wall clock, so the CPU limit is what stops it even on a busy machine.
    limits = Limits(wall_seconds=10.0, cpu_seconds=0.5)
    result = run(pack, "while true do end", limits=limits, pool=pool)
    assert result.verdict is Verdict.TIMEOUT
    assert "CPU" in result.message
    assert limits.cpu_seconds <= result.cpu_seconds < limits.cpu_seconds + 0.3
    assert_nothing_left(pool)


def test_sleep_forever_times_out_on_the_wall_clock(pack, pool):
    result = run(pack, 'os.execute("sleep 1000")', limits=SHORT, pool=pool)
    assert result.verdict is Verdict.TIMEOUT
    assert "wall-clock" in result.message
    assert result.wall_seconds < SHORT.wall_seconds + 0.5
    assert_nothing_left(pool)


def test_fork_bomb_is_contained(pack, single_pool):
    bomb = run(pack, sh("b(){ b | b & }; b") + " while true do end", limits=SHORT, pool=single_pool)
    assert bomb.verdict is Verdict.TIMEOUT
    assert "Cannot fork" in bomb.stderr  # the process limit held
    assert_nothing_left(single_pool)
    started = time.monotonic()
    after = run(pack, 'for i = 1, 10 do assert(os.execute("true")) end print("forked")',
                limits=SMALL, pool=single_pool)
    assert after.verdict is Verdict.OK and after.stdout == "forked\n"
    assert time.monotonic() - started < 2.0


def test_process_limit_stops_a_popen_loop(pack, pool):
    code = """
local handles = {}  -- kept: collecting a popen handle waits for its process
for i = 1, 100 do
  handles[#handles + 1] = io.popen("sleep 1000")
end
print(#handles, os.execute("true"))
os.exit(0)  -- without closing the state, which would wait for every sleep
"""
    result = run(pack, code, limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OK
    opened, forked = result.stdout.split()[:2]
    assert int(opened) < SMALL.processes  # the uid's process limit refused the rest
    assert forked == "nil"
    assert_nothing_left(pool)


def test_four_spinners_share_one_cpu_budget(pack, pool):
    spin = "lua5.4 -e 'while true do end' &"
    code = "".join(f'os.execute("{spin}") ' for _ in range(4)) + 'os.execute("sleep 1000")'
    limits = Limits(wall_seconds=10.0, cpu_seconds=0.6)
    result = run(pack, code, limits=limits, pool=pool)
    assert result.verdict is Verdict.TIMEOUT
    assert "CPU" in result.message
    # Summed: the four together stop at the budget. Per-process limits alone would let each
    # spin for its own budget (four times as much CPU), here until the 10 s wall clock.
    assert limits.cpu_seconds <= result.cpu_seconds < limits.cpu_seconds + 0.5
    assert result.wall_seconds < limits.wall_seconds / 2
    assert_nothing_left(pool)


def test_memory_bomb_hits_the_memory_limit(pack, pool):
    code = "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end"
    result = run(pack, code, limits=Limits(wall_seconds=5, cpu_seconds=3, memory_mb=64), pool=pool)
    assert result.verdict is Verdict.MEMORY_LIMIT
    assert result.peak_memory_kb < 64 * 1024
    assert_nothing_left(pool)


def test_output_flood_is_capped(pack, pool):
    code = "local s = string.rep('x', 1 << 20) for i = 1, 100 do io.write(s) end"
    started = time.monotonic()
    result = run(pack, code, limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OUTPUT_LIMIT
    assert result.stdout_truncated
    assert len(result.stdout) == SMALL.output_bytes
    assert time.monotonic() - started < 1.5  # stopped at the cap, not after 100 MB
    assert_nothing_left(pool)


def test_stderr_flood_is_capped(pack, pool):
    code = "local s = string.rep('e', 1 << 16) while true do io.stderr:write(s) end"
    result = run(pack, code, limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OUTPUT_LIMIT
    assert result.stderr_truncated and len(result.stderr) == SMALL.output_bytes


def test_closed_stdout_then_spin_times_out(pack, pool):
    result = run(pack, "io.stdout:close() io.stderr:close() while true do end", limits=SHORT, pool=pool)
    assert result.verdict is Verdict.TIMEOUT
    assert result.wall_seconds < SHORT.wall_seconds + 0.5
    assert_nothing_left(pool)


def test_huge_file_hits_the_file_size_limit(pack, pool):
    code = """
local f = assert(io.open("big.bin", "wb"))
local block = string.rep("x", 1 << 20)
for i = 1, 1024 do f:write(block) end
f:close()
print("wrote 1 GB")
"""
    result = run(pack, code, limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OUTPUT_LIMIT
    assert "file" in result.message
    assert "wrote" not in result.stdout


def test_symlinks_to_secrets_reveal_nothing(pack, pool, tmp_path):
    secret = f"TOPSECRET-{secrets.token_hex(8)}"
    outside = tmp_path / "secret.txt"
    outside.write_text(secret)
    outside.chmod(0o644)
    code = sh(f"ln -s {outside} outside; ln -s /etc/shadow shadow; cat outside shadow {outside} /etc/shadow "
              "/root/.bash_history") + f"""
for _, name in ipairs({{"outside", "shadow", "{outside}"}}) do
  local f = io.open(name) if f then print(f:read("a")) end
end"""
    result = run(pack, code, limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OK
    everything = result.stdout + result.stderr
    assert secret not in everything
    assert "root:" not in everything
    assert "No such file" in result.stderr


def test_database_redis_and_host_ports_are_unreachable(pack, pool):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        probes = " ".join(f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{p}' 2>/dev/null && echo CONNECTED-{p};"
                          for p in (5432, 6379, port))
        result = run(pack, sh(probes + " echo probed"), limits=SMALL, pool=pool)
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert result.verdict is Verdict.OK
    assert result.stdout == "probed\n"


def test_environment_holds_no_host_secrets(pack, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "host-secret-key-value")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:password@127.0.0.1/db")
    with Pool(1) as fresh:  # started after the secrets are in the host's environment
        code = sh("env; cat /proc/1/environ /proc/self/environ") + ' print(os.getenv("SECRET_KEY"))'
        result = run(pack, code, limits=SMALL, pool=fresh)
    assert result.verdict is Verdict.OK
    everything = result.stdout + result.stderr
    assert "host-secret-key-value" not in everything and "DATABASE_URL" not in everything
    assert "HOME=/tmp" in result.stdout and result.stdout.endswith("nil\n")


def test_proc_shows_no_host_process(pack, pool):
    code = sh("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done; ls -d /proc/[0-9]* | wc -l")
    result = run(pack, code, limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OK
    assert "pytest" not in result.stdout and "bwrap" not in result.stdout
    assert int(result.stdout.split()[-1]) < 10  # the init, the program and its shell pipeline


def test_writes_leave_nothing_on_the_host_or_for_the_next_program(pack, single_pool):
    name = f"leak-{secrets.token_hex(6)}"
    write = sh(f"echo x > /tmp/{name}; echo x > /dev/shm/{name}; echo x > $HOME/{name}; echo x > ./{name}; "
               f"mkdir -p /tmp/{name}.d/sub && echo y > /tmp/{name}.d/sub/f; chmod 000 /tmp/{name}.d; "
               "ipcmk -M 4096 >/dev/null 2>&1; ipcmk -Q >/dev/null 2>&1; ipcs | grep -c 0x")
    first = run(pack, write, limits=SMALL, pool=single_pool)
    assert first.verdict is Verdict.OK
    assert first.stdout.strip() == "0"  # SysV objects, which would outlive the run, are refused
    for host_path in (f"/tmp/{name}", f"/dev/shm/{name}", os.path.expanduser(f"~/{name}"), f"/tmp/{name}.d"):
        assert not os.path.exists(host_path)
    look = sh(f"ls -a /tmp /dev/shm $HOME .; ls /tmp/{name} /dev/shm/{name}")
    second = run(pack, look, limits=SMALL, pool=single_pool)
    assert second.verdict is Verdict.RUNTIME_ERROR or second.verdict is Verdict.OK
    assert name not in second.stdout


def test_setsid_daemon_dies_with_the_run(pack, single_pool):
    code = sh("setsid sh -c 'sleep 1000 &' &") + ' print("started")'
    result = run(pack, code, limits=SMALL, pool=single_pool)
    assert result.verdict is Verdict.OK
    assert result.wall_seconds < SMALL.wall_seconds / 2
    assert_nothing_left(single_pool)
    again = run(pack, sh("ps -e -o comm= | grep -c sleep"), limits=SMALL, pool=single_pool)
    assert again.stdout.strip() == "0"


def test_shell_escapes_see_only_the_sandbox(pack, pool):
    code = sh("ls /; ls /work /root /home /etc/passwd 2>&1; cat /work/main/pyproject.toml") + """
local p = io.popen("ls -a / /run/scriptorium 2>&1")
print(p:read("a"))
p:close()"""
    result = run(pack, code, limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OK
    listing = set(result.stdout.split())
    assert {"usr", "tmp", "proc"} <= listing
    assert not {"work", "root", "home", "scriptorium"} & listing
    assert "requires-python" not in result.stdout
    assert "Permission denied" in result.stdout  # the init's own directory is root-only


def test_host_configuration_under_usr_is_hidden(pack, pool):
    result = run(pack, sh("ls -A /usr/local/etc | wc -l; touch /usr/local/etc/x"), limits=SMALL, pool=pool)
    assert result.stdout.strip() == "0"
    assert "Read-only file system" in result.stderr or "Permission denied" in result.stderr


def test_program_runs_as_an_unprivileged_uid(pack, pool):
    result = run(pack, sh("id -u; id -G; grep NoNewPrivs /proc/self/status"), limits=SMALL, pool=pool)
    uid, groups, no_new_privs = result.stdout.splitlines()
    assert int(uid) in pool.uids()
    assert groups == uid
    assert no_new_privs.split()[-1] == "1"


def test_program_cannot_create_namespaces(pack, pool):
    result = run(pack, sh("unshare -U -r id -u && echo ESCAPED; unshare -n true && echo ESCAPED"),
                 limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OK
    assert "ESCAPED" not in result.stdout


def test_hostile_output_comes_back_as_safe_text(pack, pool):
    code = r'io.write("a\0b\255\254 \27[31mred\27[0m <script>alert(1)</script>")'
    result = run(pack, code, limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OK
    assert isinstance(result.stdout, str) and "\x00" not in result.stdout
    assert result.stdout.startswith("a\ufffdb\ufffd")
    assert "\x1b[31mred" in result.stdout and "<script>alert(1)</script>" in result.stdout


def test_host_files_written_by_the_program_do_not_exist(pack, pool):
    """The program's working directory and home are private tmpfs, not a host path."""
    result = run(pack, sh("pwd; echo $HOME; df -P . | tail -1"), limits=SMALL, pool=pool)
    cwd, home, df = result.stdout.splitlines()
    assert home == "/tmp" and cwd.startswith("/tmp/")
    assert df.split()[0] == "tmpfs"
    assert not Path(cwd, "prog.lua").exists()
