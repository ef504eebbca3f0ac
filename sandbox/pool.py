"""The host side of the long-lived sandboxes: a pool of slots, each one process running the init.

A slot is `bwrap … python init.py` (sandbox/_init.py) started once and fed programs over a
pipe, one running at a time. Whatever goes wrong with a slot (it died, hung, answered garbage) ends in
SandboxUnavailable for that one program and a fresh slot for the next: the caller never
waits longer than the program's wall clock plus REPLY_MARGIN_SECONDS.
"""
from __future__ import annotations

import atexit
import concurrent.futures
import fcntl
import os
import pwd
import queue
import select
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Callable

from sandbox import isolation
from sandbox.hostfiles import private_dir
from sandbox.isolation import SandboxUnavailable

UID_BASE = 60000
UID_COUNT = 4096
START_SECONDS = 10.0
REPLY_MARGIN_SECONDS = 5.0
MAX_STDIN_BYTES = 16 << 20
# A slot is sent its next program while the current one runs, so the init starts it the
# moment it has answered, without waiting for the host to read the answer and write again
# (each hand-off between processes costs a wake-up). Only small programs are queued ahead,
# so a write never blocks on a full pipe behind a running program.
PIPELINE_DEPTH = 2
PIPELINE_BYTES = 16 << 10
LEASE = 64  # programs one caller runs through a slot before giving others a turn


@dataclass(frozen=True)
class Job:
    """One program for a slot. `argv_for` turns the program's path inside the sandbox into
    the runner's command line (the path depends on the slot)."""
    key: object
    header: dict  # "filename" and "limits"
    code: bytes
    stdin: bytes
    argv_for: Callable[[str], list[str]]

    @property
    def size(self) -> int:
        return len(self.code) + len(self.stdin)


@dataclass(frozen=True)
class Reply:
    """The init's own accounting of one run; verdicts come from this, never from bwrap's exit."""
    exit_code: int | None
    signal: int | None
    reason: str | None  # "wall", "cpu" or "output" when the init stopped the program
    stdout_truncated: bool
    stderr_truncated: bool
    wall_seconds: float
    cpu_seconds: float
    peak_memory_kb: int
    stdout: bytes
    stderr: bytes


# The wire format of _init.c (which documents it) and _init.py.
REQUEST = struct.Struct("<4s8QII")
REPLY = struct.Struct("<4siiIIQQQIII")
REASONS = {1: "wall", 2: "cpu", 3: "output"}
CUT_STDOUT, CUT_STDERR, RETIRE = 1, 2, 4


# ---------------------------------------------------------------- uids

def _uid_exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _claim_uid() -> tuple[int, int]:
    """A uid no other slot (of any process on this machine) uses, held by an flock.

    RLIMIT_NPROC counts per uid: two slots sharing one would let a fork bomb in one starve
    the other. The lock dies with the process, so a crashed worker frees its uids.
    """
    try:
        directory = private_dir("uids")
    except OSError as exc:
        raise SandboxUnavailable(f"cannot lock a sandbox uid: {exc}") from None
    for uid in range(UID_BASE, UID_BASE + UID_COUNT):
        if _uid_exists(uid):
            continue  # a host account's processes could signal or trace the program
        fd = os.open(os.path.join(directory, str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return uid, fd
    raise SandboxUnavailable("no free sandbox uid")


# ---------------------------------------------------------------- pipes with deadlines

class _SlotBroken(Exception):
    pass


def _write_all(fd: int, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    while view:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _SlotBroken("timed out sending the program to the sandbox")
        if not poller.poll(left * 1000):
            continue
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            continue
        except OSError as exc:
            raise _SlotBroken(f"the sandbox closed its input: {exc}") from None


class _Reader:
    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = bytearray()
        self.poller = select.poll()
        self.poller.register(fd, select.POLLIN)

    def exact(self, n: int, deadline: float) -> bytes:
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _SlotBroken("the sandbox did not answer in time")
            if not self.poller.poll(left * 1000):
                continue
            chunk = os.read(self.fd, max(1 << 16, n - len(self.buffer)))
            if not chunk:
                raise _SlotBroken("the sandbox exited")
            self.buffer += chunk
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def frame(self, deadline: float, limit: int) -> bytes:
        (size,) = struct.unpack("<I", self.exact(4, deadline))
        if size > limit:
            raise _SlotBroken("the sandbox sent a malformed reply")
        return self.exact(size, deadline)


# ---------------------------------------------------------------- slots

class _Spawner:
    """Starts every slot from one long-lived thread.

    bwrap --die-with-parent uses PR_SET_PDEATHSIG, which fires when the *thread* that
    forked it exits: a slot started from a short-lived run_many worker would be killed with it.
    """

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="sandbox-spawner", daemon=True).start()

    def _loop(self):
        while True:
            fn, future = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    future.set_exception(exc)

    def call(self, fn: Callable):
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future.result()


class _Slot:
    def __init__(self, index: int, native: bool):
        self.index = index
        self.native = native
        self.uid: int | None = None
        self.uid_lock: int | None = None
        self.proc: subprocess.Popen | None = None
        self.reader: _Reader | None = None
        self.workdir: str | None = None
        self.unsafe_root: str | None = None
        self.in_flight = 0  # programs sent whose replies are still unread
        self.filtered = False  # whether the init runs programs under its syscall filter

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, spawner: _Spawner) -> None:
        self.stop()
        mode = isolation.sandbox_mode()
        if mode == "isolated" or os.geteuid() == 0:
            if self.uid is None:
                self.uid, self.uid_lock = _claim_uid()
        if mode == "isolated":
            argv = isolation.isolated_command(self.uid, native=self.native)
        else:
            self.unsafe_root = tempfile.mkdtemp(prefix="scriptorium-unsafe-")
            os.chmod(self.unsafe_root, 0o711)
            argv = isolation.unsafe_command(self.uid if os.geteuid() == 0 else None, self.unsafe_root,
                                            native=self.native)
        try:
            self.proc = spawner.call(lambda: subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                bufsize=0, close_fds=True, env={}, cwd="/"))
        except OSError as exc:
            raise SandboxUnavailable(f"could not start the sandbox: {exc}") from None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.reader = _Reader(self.proc.stdout.fileno())
        try:
            hello = self.reader.frame(time.monotonic() + START_SECONDS, 1 << 16)
            if hello[:4] != b"HELO":
                raise _SlotBroken(f"unexpected greeting {hello[:40]!r}")
        except _SlotBroken as exc:
            detail = self._stderr_after_kill()
            self.stop()
            raise SandboxUnavailable(f"the sandbox could not be created ({exc}): {detail or 'no message'}") from None
        (flags,) = struct.unpack_from("<I", hello, 4)
        self.filtered = bool(flags & 1)
        self.workdir = hello[8:].decode()

    def _stderr_after_kill(self) -> str:
        try:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=2)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            return ""
        return (err or b"").decode("utf-8", "replace").strip()[-2000:]

    def send(self, job: Job) -> None:
        limits = job.header["limits"]
        argv = [arg.encode() for arg in job.argv_for(f"{self.workdir}/{job.header['filename']}")]
        filename = job.header["filename"].encode()
        parts = [REQUEST.pack(b"RUN1", int(limits["wall_seconds"] * 1e6), int(limits["cpu_seconds"] * 1e6),
                              limits["memory_bytes"], limits["processes"], limits["output_bytes"],
                              limits["file_bytes"], len(job.code), len(job.stdin), len(filename), len(argv)),
                 filename]
        for arg in argv:
            parts += [struct.pack("<I", len(arg)), arg]
        parts += [job.code, job.stdin]
        payload = b"".join(parts)
        self.in_flight += 1
        _write_all(self.proc.stdin.fileno(), struct.pack("<I", len(payload)) + payload,
                   time.monotonic() + REPLY_MARGIN_SECONDS)

    def receive(self, job: Job) -> Reply | str:
        """The reply to the oldest program sent, or the init's reason for not running it."""
        limits = job.header["limits"]
        deadline = time.monotonic() + limits["wall_seconds"] + REPLY_MARGIN_SECONDS
        payload = self.reader.frame(deadline, REPLY.size + 2 * limits["output_bytes"] + 4096)
        if payload[:4] != b"RES1" or len(payload) < REPLY.size:
            raise _SlotBroken("the sandbox sent a malformed reply")
        (_, exit_code, sig, reason, flags, wall_us, cpu_us, peak_kb,
         out_len, err_len, error_len) = REPLY.unpack_from(payload)
        if REPLY.size + out_len + err_len + error_len != len(payload):
            raise _SlotBroken("the sandbox sent a malformed reply")
        self.in_flight -= 1
        if flags & RETIRE:
            self.stop()  # the init has exited after this answer
        if error_len:
            return payload[REPLY.size + out_len + err_len:].decode("utf-8", "replace")
        out = payload[REPLY.size:REPLY.size + out_len]
        err = payload[REPLY.size + out_len:REPLY.size + out_len + err_len]
        return Reply(
            exit_code=None if exit_code < 0 else exit_code,
            signal=sig or None,
            reason=REASONS.get(reason),
            stdout_truncated=bool(flags & CUT_STDOUT),
            stderr_truncated=bool(flags & CUT_STDERR),
            wall_seconds=wall_us / 1e6,
            cpu_seconds=cpu_us / 1e6,
            peak_memory_kb=peak_kb,
            stdout=out,
            stderr=err,
        )

    def stop(self, grace: float = 0.0) -> None:
        proc, self.proc, self.reader, self.in_flight = self.proc, None, None, 0
        if proc is not None:
            try:
                proc.stdin.close()  # EOF ends the init, and with it the whole namespace
                if grace:
                    proc.wait(timeout=grace)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdout, proc.stderr):
                stream.close()
        if self.unsafe_root:
            shutil.rmtree(self.unsafe_root, ignore_errors=True)
            self.unsafe_root = None

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's slot without touching its processes."""
        if self.proc is not None:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc.returncode = 0  # never wait for or kill the parent's sandbox
        if self.uid_lock is not None:
            os.close(self.uid_lock)
        self.proc = self.reader = self.uid = self.uid_lock = self.unsafe_root = None


class _Jobs:
    """A caller's job source with room to hand jobs back (those that never started)."""

    def __init__(self, next_job: Callable[[], Job | None]):
        self._next = next_job
        self._back: deque[Job] = deque()
        self._exhausted = False

    def peek(self) -> Job | None:
        if not self._back:
            job = None if self._exhausted else self._next()
            if job is None:
                self._exhausted = True
                return None
            self._back.append(job)
        return self._back[0]

    def take(self, small_only: bool = False) -> Job | None:
        job = self.peek()
        if job is None or (small_only and job.size > PIPELINE_BYTES):
            return None
        return self._back.popleft()

    def give_back(self, jobs) -> None:
        self._back.extendleft(reversed(list(jobs)))


_pools: "weakref.WeakSet[Pool]" = weakref.WeakSet()


class Pool:
    """N long-lived sandboxes; each run takes a free one. Thread-safe; recreated after fork.

    `native=False` runs the Python init even where the C one can be built (tests, debugging).
    """

    def __init__(self, size: int | None = None, *, native: bool = True):
        self.size = max(1, size or os.cpu_count() or 1)
        self.native = native
        self._setup()
        _pools.add(self)

    def _setup(self) -> None:
        self._pid = os.getpid()
        self._slots = [_Slot(i, self.native) for i in range(self.size)]
        self._free: queue.LifoQueue = queue.LifoQueue()
        for slot in reversed(self._slots):
            self._free.put(slot)
        self._spawner: _Spawner | None = None
        self._spawner_lock = threading.Lock()
        self._closed = False

    def _after_fork(self) -> None:
        for slot in self._slots:
            slot.forget_after_fork()
        self._setup()

    def execute(self, job: Job) -> Reply:
        """Run one program; SandboxUnavailable if no sandbox could run it."""
        outcome: list = []
        self.serve(iter([job, None]).__next__, lambda key, reply: outcome.append(reply))
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    def serve(self, next_job: Callable[[], Job | None], deliver: Callable[[object, "Reply | SandboxUnavailable"], None],
              *, depth: int = PIPELINE_DEPTH, lease: int = LEASE) -> None:
        """Run jobs from `next_job` (None: no more) until it is exhausted, calling `deliver`
        with each job's key and its Reply or SandboxUnavailable, in order. Called by one
        thread per slot wanted; each takes a free slot for up to `lease` jobs at a time."""
        if os.getpid() != self._pid:
            self._after_fork()
        jobs = _Jobs(next_job)
        while jobs.peek() is not None:
            if self._closed:
                deliver(jobs.take().key, SandboxUnavailable("the sandbox pool is closed"))
                continue
            slot = self._free.get()
            try:
                self._serve_slot(slot, jobs, deliver, depth, lease)
            finally:
                if slot.in_flight:
                    # Left by an exception (in `deliver`, or an interrupt): unread replies would
                    # be taken for the next caller's, so this sandbox cannot be reused.
                    slot.stop()
                self._free.put(slot)

    def _serve_slot(self, slot: "_Slot", jobs: "_Jobs", deliver, depth: int, lease: int) -> None:
        if not slot.alive():
            try:
                slot.start(self._get_spawner())
            except SandboxUnavailable as exc:
                deliver(jobs.take().key, exc)
                return
        pending: deque[Job] = deque()
        taken = 0
        while True:
            while len(pending) < depth and taken < lease:
                job = jobs.take(small_only=bool(pending))
                if job is None:
                    break
                if len(job.stdin) > MAX_STDIN_BYTES:
                    deliver(job.key, SandboxUnavailable(f"stdin is larger than {MAX_STDIN_BYTES} bytes"))
                    continue
                try:
                    slot.send(job)
                except _SlotBroken as exc:
                    jobs.give_back([job])
                    self._broken(slot, pending, jobs, deliver, exc)
                    return
                pending.append(job)
                taken += 1
            if not pending:
                return
            job = pending[0]
            try:
                reply = slot.receive(job)
            except (_SlotBroken, ValueError) as exc:
                self._broken(slot, pending, jobs, deliver, exc)
                return
            pending.popleft()
            deliver(job.key, reply if isinstance(reply, Reply) else SandboxUnavailable(reply))
            if not slot.alive():  # retired after that answer: the rest never started
                jobs.give_back(pending)
                return

    @staticmethod
    def _broken(slot: "_Slot", pending: deque, jobs: "_Jobs", deliver, exc: Exception) -> None:
        """The init died or hung: the oldest program in flight fails, the others never started."""
        slot.stop()
        if pending:
            deliver(pending.popleft().key,
                    SandboxUnavailable(f"the sandbox failed during the run and was replaced: {exc}"))
        jobs.give_back(pending)

    def _get_spawner(self) -> _Spawner:
        with self._spawner_lock:
            if self._spawner is None:
                self._spawner = _Spawner()
            return self._spawner

    def uids(self) -> list[int]:
        """The unprivileged uids this pool's programs run as (one per started slot)."""
        return [slot.uid for slot in self._slots if slot.uid is not None]

    def warm_up(self) -> None:
        """Start every slot now rather than at first use."""
        taken = [self._free.get() for _ in range(self.size)]
        try:
            for slot in taken:
                if not slot.alive():
                    slot.start(self._get_spawner())
        finally:
            for slot in taken:
                self._free.put(slot)

    def close(self) -> None:
        if os.getpid() != self._pid:
            self._after_fork()
        self._closed = True
        for slot in self._slots:
            slot.stop(grace=1.0)

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _forget_pools_in_child() -> None:
    for pool in list(_pools):
        pool._after_fork()


def _close_pools_at_exit() -> None:
    for pool in list(_pools):
        if pool._pid == os.getpid():
            pool.close()


os.register_at_fork(after_in_child=_forget_pools_in_child)
atexit.register(_close_pools_at_exit)
