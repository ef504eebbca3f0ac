"""From what happened to a run (the init's accounting) to a verdict. Pure: no processes here."""
from __future__ import annotations

import enum
import re
import signal as signals
from dataclasses import dataclass

from sandbox.limits import Limits
from sandbox.pack import ErrorSpec


class Verdict(str, enum.Enum):
    OK = "ok"
    SYNTAX_ERROR = "syntax_error"
    RUNTIME_ERROR = "runtime_error"
    TEST_FAILED = "test_failed"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    SANDBOX_ERROR = "sandbox_error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Outcome:
    """Facts of one finished run, as the init measured them."""
    exit_code: int | None
    signal: int | None
    reason: str | None = None  # "wall", "cpu" or "output" when the init stopped the run
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    peak_memory_kb: int = 0
    has_tests: bool = False
    marker_seen: bool = False


# A process that dies of a fault with its resident set near the address-space limit ran out
# of memory without saying so (a runtime that does not report allocation failure).
_MEMORY_SIGNALS = {signals.SIGSEGV, signals.SIGABRT, signals.SIGBUS, signals.SIGKILL}
_MEMORY_NEAR_LIMIT = 0.8


def classify(outcome: Outcome, errors: ErrorSpec, failure: re.Pattern | None, limits: Limits) -> tuple[Verdict, str]:
    """The verdict and a human explanation (empty when there is nothing to explain)."""
    o = outcome
    if o.reason == "wall":
        return Verdict.TIMEOUT, f"wall-clock limit of {limits.wall_seconds:g} s exceeded"
    if o.reason == "cpu" or o.signal == signals.SIGXCPU:
        return Verdict.TIMEOUT, f"CPU limit of {limits.cpu_seconds:g} s exceeded (summed over all its processes)"
    if o.reason == "output":
        stream = "stdout" if o.stdout_truncated else "stderr"
        return Verdict.OUTPUT_LIMIT, f"{stream} exceeded {limits.output_bytes} bytes; the run was stopped"
    if o.signal == signals.SIGXFSZ:
        return Verdict.OUTPUT_LIMIT, f"a file exceeded the size limit of {limits.file_bytes} bytes"
    clean_exit = o.exit_code == 0 and o.signal is None
    if not clean_exit:
        if errors.is_out_of_memory(o.stderr) or (
                o.signal in _MEMORY_SIGNALS and o.peak_memory_kb >= _MEMORY_NEAR_LIMIT * limits.memory_mb * 1024):
            return Verdict.MEMORY_LIMIT, f"out of memory (limit {limits.memory_mb} MB per process)"
        if errors.is_syntax_error(o.stderr):
            return Verdict.SYNTAX_ERROR, ""
    if o.has_tests:
        if clean_exit and o.marker_seen:
            return Verdict.OK, ""
        match = failure.search(o.stderr) if failure else None
        if match:
            index = match.groupdict().get("index")
            return Verdict.TEST_FAILED, f"test {index} failed" if index else "a test failed"
        if clean_exit:
            return Verdict.TEST_FAILED, ("tests did not complete: the program exited with status 0 "
                                         "before the tests finished")
    elif clean_exit:
        return Verdict.OK, ""
    if o.signal is not None:
        return Verdict.RUNTIME_ERROR, f"killed by signal {_signal_name(o.signal)}"
    return Verdict.RUNTIME_ERROR, f"exited with status {o.exit_code}"


def _signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return str(number)
