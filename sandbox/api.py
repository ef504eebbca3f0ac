"""Run untrusted programs of a language pack and get verdicts: `run` and `run_many`."""
from __future__ import annotations

import dataclasses
import itertools
import os
import queue
import secrets
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator

from sandbox.isolation import SandboxUnavailable
from sandbox.limits import Limits
from sandbox.pack import Pack
from sandbox.pool import Job, Pool, Reply
from sandbox.testcompiler import compile_tests, parse_tests
from sandbox.verdicts import Outcome, Verdict, classify


@dataclass(frozen=True)
class Result:
    """What happened to one program. Text fields are safe to store (no NUL, valid UTF-8);
    `message` explains verdicts that need it (limits, sandbox_error, incomplete tests);
    `error_*` locate the runner's first error report in the program's source."""
    verdict: Verdict
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_kb: int = 0
    error_line: int | None = None
    error_column: int | None = None
    error_type: str = ""
    error_message: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["verdict"] = self.verdict.value
        return data


@dataclass(frozen=True)
class Program:
    """One program for `run_many`; the same fields as `run`'s arguments."""
    code: str
    stdin: str | bytes | None = None
    tests: str | list | None = None
    entry_point: str | None = None
    limits: Limits | dict | None = None


def safe_text(data: bytes) -> str:
    """Output as text a Postgres text column accepts. ANSI escapes and markup stay as they
    are: they are data, and escaping is the renderer's job."""
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


# ---------------------------------------------------------------- preparing and finishing

@dataclass(frozen=True)
class _Prepared:
    header: dict
    code: bytes
    stdin: bytes
    limits: Limits
    marker: str | None


def _effective_limits(pack: Pack, limits: Limits | dict | None) -> Limits:
    if limits is None:
        return pack.limits
    values = dataclasses.asdict(limits) if isinstance(limits, Limits) else dict(limits)
    return pack.limits.tightened(**values)


def _prepare(pack: Pack, program: Program, limits: Limits | dict | None = None) -> _Prepared:
    """Raises TestFormatError / ValueError for tests that cannot be compiled: a caller's bug."""
    effective = _effective_limits(pack, program.limits if program.limits is not None else limits)
    source, marker = program.code, None
    if program.tests is not None:
        if not program.entry_point:
            raise ValueError("tests need an entry_point")
        # A fresh nonce per execution: a program cannot print it before the tests ran.
        marker = "scriptorium-tests-done-" + secrets.token_hex(12)
        compiled = compile_tests(pack.tests, program.entry_point, parse_tests(program.tests), marker)
        source = source + "\n" + compiled
    stdin = program.stdin or b""
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    header = {
        "filename": pack.filename,
        "limits": {
            "wall_seconds": effective.wall_seconds,
            "cpu_seconds": effective.cpu_seconds,
            "memory_bytes": int(effective.memory_mb) << 20,
            "processes": int(effective.processes),
            "output_bytes": int(effective.output_bytes),
            "file_bytes": int(effective.file_bytes),
        },
    }
    return _Prepared(header, source.encode("utf-8", errors="replace"), stdin, effective, marker)


def _strip_marker(stdout: bytes, marker: str) -> tuple[bytes, bool]:
    """Remove the last line that is exactly the marker (a trailing \\r allowed). Searched
    from the end with bytes.rfind: the marker is new for every program, so a regex built
    from it was compiled afresh for every run (0.3 s of CPU per thousand programs)."""
    token = marker.encode()
    end = len(stdout)
    while (at := stdout.rfind(token, 0, end)) >= 0:
        after = at + len(token)
        if stdout[after:after + 1] == b"\r":
            after += 1
        if (at == 0 or stdout[at - 1:at] == b"\n") and stdout[after:after + 1] in (b"\n", b""):
            return stdout[:at] + stdout[after + 1:], True
        end = at + len(token) - 1
    return stdout, False


def _job(key, pack: Pack, prepared: _Prepared) -> Job:
    return Job(key, prepared.header, prepared.code, prepared.stdin, pack.argv)


def _finish(pack: Pack, prepared: _Prepared, reply: Reply | Exception) -> Result:
    if isinstance(reply, SandboxUnavailable):
        return Result(Verdict.SANDBOX_ERROR, message=str(reply))
    if isinstance(reply, Exception):
        return Result(Verdict.SANDBOX_ERROR, message=f"sandbox failure: {type(reply).__name__}: {reply}")
    stdout, marker_seen = (reply.stdout, False)
    if prepared.marker is not None:
        stdout, marker_seen = _strip_marker(stdout, prepared.marker)
    stderr = safe_text(reply.stderr)
    outcome = Outcome(
        exit_code=reply.exit_code, signal=reply.signal, reason=reply.reason, stderr=stderr,
        stdout_truncated=reply.stdout_truncated, stderr_truncated=reply.stderr_truncated,
        peak_memory_kb=reply.peak_memory_kb, has_tests=prepared.marker is not None, marker_seen=marker_seen)
    verdict, message = classify(outcome, pack.errors, pack.tests.failure, prepared.limits)
    location = pack.errors.locate(stderr) if verdict is not Verdict.OK and stderr.strip() else None
    return Result(
        verdict=verdict,
        exit_code=reply.exit_code,
        signal=reply.signal,
        stdout=safe_text(stdout),
        stderr=stderr,
        stdout_truncated=reply.stdout_truncated,
        stderr_truncated=reply.stderr_truncated,
        wall_seconds=round(reply.wall_seconds, 6),
        cpu_seconds=round(reply.cpu_seconds, 6),
        peak_memory_kb=reply.peak_memory_kb,
        error_line=location.line if location else None,
        error_column=location.column if location else None,
        error_type=location.type if location else "",
        error_message=location.message if location else "",
        message=message,
    )


def _remember(job: Job | None, held: set[int]) -> Job | None:
    if job is not None:
        held.add(job.key)
    return job


# ---------------------------------------------------------------- the default pool

_default: Pool | None = None
_default_lock = threading.Lock()


def default_pool() -> Pool:
    """One pool per process, os.cpu_count() slots; a forked child (Celery prefork) gets its own."""
    global _default
    with _default_lock:
        if _default is None or _default._pid != os.getpid():
            _default = Pool()
        return _default


def close_default_pool() -> None:
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
            _default = None


# ---------------------------------------------------------------- public

def run(pack: Pack, code: str, *, stdin: str | bytes | None = None, tests: str | list | None = None,
        entry_point: str | None = None, limits: Limits | dict | None = None, pool: Pool | None = None) -> Result:
    """Run one program in a sandbox. `limits` can only lower the pack's limits."""
    prepared = _prepare(pack, Program(code, stdin, tests, entry_point, limits))
    try:
        reply = (pool or default_pool()).execute(_job(0, pack, prepared))
    except Exception as exc:  # noqa: BLE001 - every failure of the sandbox is a verdict
        reply = exc
    return _finish(pack, prepared, reply)


def run_many(pack: Pack, programs: Iterable[Program | str], *, limits: Limits | dict | None = None,
             pool: Pool | None = None) -> Iterator[tuple[int, Result]]:
    """Run programs over the pool's slots; yield (index, Result) as each finishes.

    Every program is prepared before the first runs, so malformed tests raise at once.
    Abandoning the iterator lets the programs already running finish and starts no more.
    """
    prepared = [_prepare(pack, p if isinstance(p, Program) else Program(p), limits) for p in programs]
    pool = pool or default_pool()
    if not prepared:
        return
    results: queue.SimpleQueue = queue.SimpleQueue()
    indices = itertools.count()
    stop = threading.Event()
    done = object()

    taken: set[int] = set()  # handed to a worker, no result yet

    def next_job() -> Job | None:
        index = next(indices)  # atomic under the GIL: each index goes to one worker
        if stop.is_set() or index >= len(prepared):
            return None
        taken.add(index)
        return _job(index, pack, prepared[index])

    def deliver(index, reply) -> None:
        taken.discard(index)
        results.put((index, _finish(pack, prepared[index], reply)))

    def work() -> None:
        mine: set[int] = set()
        try:
            pool.serve(lambda: _remember(next_job(), mine), deliver)
        except Exception as exc:  # noqa: BLE001 - a result for every program this worker held
            for index in sorted(mine & taken):
                deliver(index, exc)
        finally:
            results.put(done)

    workers = min(pool.size, len(prepared))
    for n in range(workers):
        threading.Thread(target=work, name=f"sandbox-run-{n}", daemon=True).start()
    try:
        finished = 0
        while finished < workers:
            item = results.get()
            if item is done:
                finished += 1
            else:
                yield item
    finally:
        stop.set()
