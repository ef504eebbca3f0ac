"""Verdict classification on synthetic outcomes: no process is started here."""
from __future__ import annotations

import signal

import pytest

from sandbox.api import _strip_marker, safe_text
from sandbox.limits import Limits
from sandbox.verdicts import Outcome, Verdict, classify

LIMITS = Limits()
SYNTAX = "lua5.4: prog.lua:3: unexpected symbol near '+'\n"
RUNTIME = ("lua5.4: prog.lua:2: attempt to call a nil value (global 'foo')\nstack traceback:\n"
           "\t[C]: in ?\n")
FAILED = "scriptorium test 2 failed: expected 3, got 4\n"


def verdict_of(pack, **facts) -> tuple[Verdict, str]:
    return classify(Outcome(**facts), pack.errors, pack.tests.failure, LIMITS)


def test_load_error_is_syntax_error(pack):
    assert verdict_of(pack, exit_code=1, signal=None, stderr=SYNTAX)[0] is Verdict.SYNTAX_ERROR


def test_error_with_traceback_is_runtime_error(pack):
    verdict, message = verdict_of(pack, exit_code=1, signal=None, stderr=RUNTIME)
    assert verdict is Verdict.RUNTIME_ERROR
    assert message == "exited with status 1"


def test_failed_assertion_is_test_failed(pack):
    verdict, message = verdict_of(pack, exit_code=1, signal=None, stderr=FAILED, has_tests=True)
    assert verdict is Verdict.TEST_FAILED
    assert message == "test 2 failed"


def test_early_exit_zero_before_the_tests_is_test_failed(pack):
    verdict, message = verdict_of(pack, exit_code=0, signal=None, has_tests=True, marker_seen=False)
    assert verdict is Verdict.TEST_FAILED
    assert "tests did not complete" in message


def test_exit_zero_with_marker_is_ok(pack):
    assert verdict_of(pack, exit_code=0, signal=None, has_tests=True, marker_seen=True)[0] is Verdict.OK


def test_runtime_error_in_tested_program_is_runtime_error(pack):
    assert verdict_of(pack, exit_code=1, signal=None, stderr=RUNTIME, has_tests=True)[0] is Verdict.RUNTIME_ERROR


def test_clean_exit_without_tests_is_ok_even_with_stderr(pack):
    assert verdict_of(pack, exit_code=0, signal=None, stderr="warning\n")[0] is Verdict.OK


@pytest.mark.parametrize("facts", [
    {"reason": "wall", "exit_code": None, "signal": 9},
    {"reason": "cpu", "exit_code": None, "signal": 9},
    {"reason": None, "exit_code": None, "signal": signal.SIGXCPU},
])
def test_limits_of_time_are_timeouts(pack, facts):
    assert verdict_of(pack, **facts)[0] is Verdict.TIMEOUT


def test_output_over_cap_is_output_limit(pack):
    verdict, message = verdict_of(pack, exit_code=None, signal=9, reason="output", stdout_truncated=True)
    assert verdict is Verdict.OUTPUT_LIMIT
    assert message.startswith("stdout")


def test_file_size_signal_is_output_limit(pack):
    assert verdict_of(pack, exit_code=None, signal=signal.SIGXFSZ)[0] is Verdict.OUTPUT_LIMIT


def test_out_of_memory_message_is_memory_limit(pack):
    stderr = "lua5.4: not enough memory\n"
    assert verdict_of(pack, exit_code=1, signal=None, stderr=stderr)[0] is Verdict.MEMORY_LIMIT


def test_fault_near_the_memory_limit_is_memory_limit(pack):
    peak = LIMITS.memory_mb * 1024
    assert verdict_of(pack, exit_code=None, signal=signal.SIGSEGV, peak_memory_kb=peak)[0] is Verdict.MEMORY_LIMIT


def test_fault_far_from_the_memory_limit_is_runtime_error(pack):
    verdict, message = verdict_of(pack, exit_code=None, signal=signal.SIGSEGV, peak_memory_kb=2000)
    assert verdict is Verdict.RUNTIME_ERROR
    assert "SIGSEGV" in message


def test_verdict_is_its_string_value():
    assert str(Verdict.TEST_FAILED) == "test_failed"
    assert Verdict("ok") is Verdict.OK


def test_safe_text_replaces_nul_and_invalid_utf8_but_keeps_markup():
    text = safe_text(b"a\x00b\xff\xfe \x1b[31mred\x1b[0m <script>x</script> \xc3\xa9")
    assert "\x00" not in text
    assert text.startswith("a\ufffdb\ufffd\ufffd")
    assert "\x1b[31mred" in text and "<script>x</script>" in text and text.endswith("é")


def test_strip_marker_removes_only_the_marker_line():
    out, seen = _strip_marker(b"hello\nM\nbye\n", "M")
    assert (out, seen) == (b"hello\nbye\n", True)
    assert _strip_marker(b"hello M\n", "M") == (b"hello M\n", False)
