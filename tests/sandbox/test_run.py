"""run / run_many as callers use them, and how the sandbox fails: closed, never hanging."""
from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from sandbox import Pool, Program, Verdict, isolation, native, run, run_many, testcompiler
from sandbox import pool as pool_module
from sandbox.limits import Limits
from tests.sandbox.conftest import SMALL

ADD = "function add(a, b) return a + b end"
ADD_TESTS = '[{"args": [1, 2], "expected": 3}, {"args": [-1, 1], "expected": 0}]'


def test_passing_tests_are_ok_and_the_marker_is_stripped(pack, pool):
    result = run(pack, ADD + '\nprint("hello")', tests=ADD_TESTS, entry_point="add", limits=SMALL, pool=pool)
    assert result.verdict is Verdict.OK
    assert result.stdout == "hello\n"
    assert result.message == ""


def test_failing_test_is_test_failed_with_its_index(pack, pool):
    result = run(pack, "function add(a, b) return a - b end", tests=ADD_TESTS, entry_point="add",
                 limits=SMALL, pool=pool)
    assert result.verdict is Verdict.TEST_FAILED
    assert result.message == "test 1 failed"
    assert "expected 3, got -1" in result.stderr


def test_exit_zero_before_the_tests_is_test_failed(pack, pool):
    result = run(pack, ADD + "\nos.exit(0)", tests=ADD_TESTS, entry_point="add", limits=SMALL, pool=pool)
    assert result.verdict is Verdict.TEST_FAILED
    assert "tests did not complete" in result.message


def test_printing_a_guessed_marker_does_not_pass(pack, pool):
    code = ADD + '\nprint("scriptorium-tests-done-000000000000000000000000") os.exit(0)'
    result = run(pack, code, tests=ADD_TESTS, entry_point="add", limits=SMALL, pool=pool)
    assert result.verdict is Verdict.TEST_FAILED


def test_syntax_error_is_located(pack, pool):
    result = run(pack, "local x = 1\nlocal y = = 2\n", limits=SMALL, pool=pool)
    assert result.verdict is Verdict.SYNTAX_ERROR
    assert (result.error_line, result.error_type) == (2, "syntax")
    assert "near '='" in result.error_message


def test_runtime_error_is_located_and_typed(pack, pool):
    result = run(pack, "local x = 1\nfoo()\n", limits=SMALL, pool=pool)
    assert result.verdict is Verdict.RUNTIME_ERROR
    assert (result.error_line, result.error_type) == (2, "undefined_name")
    assert result.exit_code == 1 and result.signal is None


def test_stdin_reaches_the_program(pack, pool):
    result = run(pack, 'print(io.read("l") .. "!")', stdin="hi\n", limits=SMALL, pool=pool)
    assert result.stdout == "hi!\n"


def test_large_programs_and_stdin_arrive_whole(pack, pool):
    padding = "-- " + "x" * 40_000 + "\n"  # larger than what is queued ahead in a slot's pipe
    code = padding + 'local s = io.read("a") print(#s, s:sub(-3))'
    programs = [Program(code, stdin="abc" * 300_000), Program("print('small')")] * 2
    results = dict(run_many(pack, programs, limits=SMALL, pool=pool))
    assert [results[i].stdout for i in range(4)] == ["900000\tabc\n", "small\n"] * 2


def test_result_serialises_to_plain_values(pack, pool):
    data = run(pack, "print(1)", limits=SMALL, pool=pool).to_dict()
    assert data["verdict"] == "ok" and data["stdout"] == "1\n"
    assert data["peak_memory_kb"] > 0 and data["wall_seconds"] > 0


def test_limits_can_only_be_lowered(pack, pool):
    from sandbox.api import _prepare

    asked = Limits(wall_seconds=100, cpu_seconds=0.3, memory_mb=100_000)
    effective = _prepare(pack, Program("", limits=asked)).limits
    assert (effective.wall_seconds, effective.cpu_seconds, effective.memory_mb) == (
        pack.limits.wall_seconds, 0.3, pack.limits.memory_mb)
    result = run(pack, "while true do end", limits=asked, pool=pool)
    assert result.verdict is Verdict.TIMEOUT and "CPU limit of 0.3 s" in result.message


def test_malformed_tests_raise_before_running(pack, pool):
    with pytest.raises(testcompiler.TestFormatError):
        run(pack, ADD, tests='[{"args": 1}]', entry_point="add", pool=pool)


def test_run_many_streams_every_program_with_its_index(pack, pool):
    programs = [Program(f"print({i})") for i in range(6)]
    programs.append(Program(ADD, tests=ADD_TESTS, entry_point="add"))
    programs.append("error('boom')")
    results = dict(run_many(pack, programs, limits=SMALL, pool=pool))
    assert sorted(results) == list(range(8))
    assert [results[i].stdout for i in range(6)] == [f"{i}\n" for i in range(6)]
    assert results[6].verdict is Verdict.OK
    assert results[7].verdict is Verdict.RUNTIME_ERROR


def test_abandoned_run_many_starts_no_more_programs(pack, pool):
    stream = run_many(pack, ["print(1)"] * 50, limits=SMALL, pool=pool)
    next(stream)
    stream.close()
    assert run(pack, "print(2)", limits=SMALL, pool=pool).stdout == "2\n"


def test_missing_bwrap_fails_closed(pack, monkeypatch):
    monkeypatch.setattr(isolation, "BWRAP", "/nonexistent/bwrap")
    with Pool(1) as broken:
        result = run(pack, 'print("ran")', pool=broken)
    assert result.verdict is Verdict.SANDBOX_ERROR
    assert "bubblewrap not found" in result.message
    assert result.stdout == ""


def test_failing_namespace_creation_fails_closed(pack, monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(isolation, "BWRAP", str(fake))
    with Pool(1) as broken:
        result = run(pack, 'print("ran")', pool=broken)
    assert result.verdict is Verdict.SANDBOX_ERROR
    assert "Creating new namespace failed" in result.message


def test_unknown_sandbox_mode_fails_closed(pack, monkeypatch):
    monkeypatch.setenv("SCRIPTORIUM_SANDBOX", "off")
    with Pool(1) as broken:
        result = run(pack, 'print("ran")', pool=broken)
    assert result.verdict is Verdict.SANDBOX_ERROR
    assert "SCRIPTORIUM_SANDBOX" in result.message


def test_unsafe_mode_is_explicit_and_still_limits(pack, monkeypatch):
    monkeypatch.setenv("SCRIPTORIUM_SANDBOX", "unsafe")
    with Pool(1) as unsafe:
        ok = run(pack, 'print("ran")', limits=SMALL, pool=unsafe)
        spin = run(pack, "while true do end", limits=SMALL, pool=unsafe)
        flood = run(pack, "while true do io.write(('x'):rep(4096)) end", limits=SMALL, pool=unsafe)
    assert ok.verdict is Verdict.OK and ok.stdout == "ran\n"
    assert spin.verdict is Verdict.TIMEOUT
    assert flood.verdict is Verdict.OUTPUT_LIMIT


def test_missing_runner_is_sandbox_error(pack, pool):
    broken = dataclasses.replace(pack, command=("no-such-runner", "{file}"))
    result = run(broken, "print(1)", pool=pool)
    assert result.verdict is Verdict.SANDBOX_ERROR
    assert "no-such-runner" in result.message


def test_without_a_compiler_the_python_init_takes_over(pack, monkeypatch):
    monkeypatch.setattr(isolation, "native_init_path", lambda: None)
    with Pool(1) as fallback:
        result = run(pack, "os.execute('id -u') print(arg[0])", limits=SMALL, pool=fallback)
        command = fallback._slots[0].proc.args
    assert result.verdict is Verdict.OK
    assert int(result.stdout.split()[0]) in fallback.uids()
    assert command[command.index("-B") + 1].endswith("init.py")


def test_the_c_init_is_built_and_used_on_this_machine(pack):
    assert native.native_init_path() is not None  # gcc is on the project's machines and in CI
    with Pool(1) as default:
        assert run(pack, "print(1)", pool=default).verdict is Verdict.OK
        assert f"{isolation.INIT_ROOT}/init" in default._slots[0].proc.args


def _init_pid(slot) -> int:
    children = Path(f"/proc/{slot.proc.pid}/task/{slot.proc.pid}/children").read_text().split()
    return int(children[0])


def test_a_killed_sandbox_is_replaced(pack, single_pool):
    assert run(pack, "print(1)", pool=single_pool).verdict is Verdict.OK
    slot = single_pool._slots[0]
    victim = slot.proc.pid
    threading.Timer(0.3, os.kill, (_init_pid(slot), signal.SIGKILL)).start()
    result = run(pack, 'os.execute("sleep 5")', limits=Limits(wall_seconds=4), pool=single_pool)
    assert result.verdict is Verdict.SANDBOX_ERROR
    assert "replaced" in result.message
    after = run(pack, "print(2)", pool=single_pool)
    assert after.verdict is Verdict.OK and after.stdout == "2\n"
    assert single_pool._slots[0].proc.pid != victim


def test_a_hung_sandbox_does_not_hang_the_caller(pack, single_pool, monkeypatch):
    monkeypatch.setattr(pool_module, "REPLY_MARGIN_SECONDS", 0.5)
    assert run(pack, "print(1)", pool=single_pool).verdict is Verdict.OK
    os.kill(_init_pid(single_pool._slots[0]), signal.SIGSTOP)
    started = time.monotonic()
    result = run(pack, "print(1)", limits=Limits(wall_seconds=1), pool=single_pool)
    assert result.verdict is Verdict.SANDBOX_ERROR
    assert time.monotonic() - started < 3
    assert run(pack, "print(3)", pool=single_pool).stdout == "3\n"


def test_a_forked_worker_gets_its_own_sandboxes(pack, single_pool):
    assert run(pack, "print(1)", pool=single_pool).verdict is Verdict.OK
    parent_sandbox = single_pool._slots[0].proc.pid
    child = os.fork()
    if child == 0:  # a Celery prefork child: must not use (or kill) the parent's sandbox
        try:
            result = run(pack, "print(2)", pool=single_pool)
            mine = single_pool._slots[0].proc.pid
            single_pool.close()
            os._exit(0 if result.stdout == "2\n" and mine != parent_sandbox else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert single_pool._slots[0].proc.pid == parent_sandbox
    assert run(pack, "print(3)", pool=single_pool).stdout == "3\n"


def test_a_second_language_runs_too(pack, pool):
    tcl = dataclasses.replace(pack, command=("tclsh", "{file}"), extension=".tcl")
    result = run(tcl, 'puts "hello from [info patchlevel]"\nexit 3', limits=SMALL, pool=pool)
    assert result.verdict is Verdict.RUNTIME_ERROR
    assert result.exit_code == 3 and result.stdout.startswith("hello from 8.")


def test_programs_queued_behind_a_dying_sandbox_still_run(pack, single_pool):
    assert run(pack, "print(1)", pool=single_pool).verdict is Verdict.OK
    threading.Timer(0.3, os.kill, (_init_pid(single_pool._slots[0]), signal.SIGKILL)).start()
    programs = [Program('os.execute("sleep 5")', limits=Limits(wall_seconds=4)), Program("print(2)")]
    results = dict(run_many(pack, programs, pool=single_pool))
    assert results[0].verdict is Verdict.SANDBOX_ERROR
    assert results[1].verdict is Verdict.OK and results[1].stdout == "2\n"


def test_an_exception_in_the_caller_does_not_mix_up_replies(pack, single_pool):
    def explode(key, reply):
        raise RuntimeError("caller bug")

    jobs = iter([run_job(pack, "print('first')", 1), run_job(pack, "print('second')", 2), None])
    with pytest.raises(RuntimeError):
        single_pool.serve(jobs.__next__, explode)
    assert run(pack, "print('third')", pool=single_pool).stdout == "third\n"


def run_job(pack, code, key):
    from sandbox.api import _job, _prepare

    return _job(key, pack, _prepare(pack, Program(code)))
