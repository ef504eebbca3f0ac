"""The init of one long-lived sandbox, in Python: the fallback for _init.c.

Used where the C init cannot be built (no compiler or libc headers); same command line, same
protocol, same isolation, about half the throughput (fork from a Python process pays
copy-on-write faults, and peak memory then includes the ~10 MB the child shares with this
process until exec). See _init.c for the protocol and the reasons behind each step.

This file is NOT imported by the host: it is bound read-only into the sandbox's root-only
directory and run there (`python -I -S -B init.py --isolated --uid N ...`). Standard library
only; it must never import anything of the project.
"""
import ctypes
import os
import platform
import resource
import select
import shutil
import signal
import struct
import sys
import time

CPU_POLL_SECONDS = 0.02
DRAIN_SECONDS = 1.0
READ_CHUNK = 65536
MAX_REQUEST = 64 << 20
REQUEST = struct.Struct("<4s8QII")
REPLY = struct.Struct("<4siiIIQQQIII")
REASON_WALL, REASON_CPU, REASON_OUTPUT = 1, 2, 3
CUT_STDOUT, CUT_STDERR, RETIRE = 1, 2, 4

ISOLATED = False
UID = None
WORKDIR = None
WIPE = []
ENV = {}
FILTER_ON = False
CLK_TCK = os.sysconf("SC_CLK_TCK")
_libc = ctypes.CDLL(None, use_errno=True)
_exe_cache = {}


def parse_args(args):
    global ISOLATED, UID, WORKDIR
    i = 0
    while i < len(args):
        flag = args[i]
        if flag == "--isolated":
            ISOLATED = True
        elif flag in ("--uid", "--workdir", "--wipe", "--env") and i + 1 < len(args):
            i += 1
            value = args[i]
            if flag == "--uid":
                UID = int(value)
            elif flag == "--workdir":
                WORKDIR = value
            elif flag == "--wipe":
                WIPE.append(value)
            else:
                key, _, val = value.partition("=")
                ENV[key] = val
        else:
            sys.exit(f"scriptorium init: bad argument {flag}")
        i += 1
    if WORKDIR is None:
        sys.exit("scriptorium init: --workdir is required")


def read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------- the syscall filter

def _seccomp_program():
    """The filter of _init.c's install_filter (x86_64 numbers); keep the two in step."""
    if platform.machine() != "x86_64":
        return None
    ld_abs, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38
    allow, kill = 0x7FFF0000, 0x80000000
    denied = [272, 308, 165, 166, 155, 101, 250, 248, 249, 321, 298, 323, 246, 320, 175, 313, 176,
              304, 303, 428, 429, 430, 431, 432, 425, 426, 427, 161, 163, 167, 168, 169, 179, 103,
              310, 311, 312, 29, 64, 68, 240]
    prog = [(ld_abs, 0, 0, 4), (jeq, 1, 0, 0xC000003E), (ret, 0, 0, kill), (ld_abs, 0, 0, 0),
            (jge, 0, 1, 0x40000000), (ret, 0, 0, eperm)]
    for nr in denied:
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, eperm)]
    prog += [(jeq, 0, 1, 435), (ret, 0, 0, enosys)]
    prog += [(jeq, 0, 4, 56), (ld_abs, 0, 0, 16), (jset, 0, 1, 0x7E020080), (ret, 0, 0, eperm),
             (ret, 0, 0, allow), (ret, 0, 0, allow)]

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    filters = (SockFilter * len(prog))(*[SockFilter(*insn) for insn in prog])
    return SockFprog(len(prog), filters), filters  # keep the array alive


def _restrict_init():
    for what in (resource.RLIMIT_CORE, resource.RLIMIT_MSGQUEUE, resource.RLIMIT_MEMLOCK):
        resource.setrlimit(what, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    if not ISOLATED:
        if _libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise OSError(ctypes.get_errno(), "PR_SET_CHILD_SUBREAPER failed")
        return False
    program = _seccomp_program()
    if program is None:
        return False
    if _libc.prctl(22, 2, ctypes.byref(program[0]), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "seccomp filter could not be installed")
    return True


# ---------------------------------------------------------------- wiping

def _wipe():
    clean = True
    for top in WIPE:
        try:
            entries = list(os.scandir(top))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass
            except OSError:
                clean = False
        if entries and next(os.scandir(top), None) is not None:
            clean = False
    if ISOLATED and not FILTER_ON:
        _remove_sysv_ipc()
    return clean


def _remove_sysv_ipc():
    for kind, call in (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl")):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            ident = int(row.split()[1])
            getattr(_libc, call)(*((ident, 0, 0) if kind == "sem" else (ident, 0, None)))


# ---------------------------------------------------------------- one run

def _proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(b")") + 2:].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime stime cutime cstime


class Run:
    def __init__(self, pid):
        self.pid = pid
        self.status = None
        self.cpu = 0.0
        self.peak_kb = 0
        self.ended = None

    def account(self, pid, status, usage):
        self.cpu += usage.ru_utime + usage.ru_stime
        self.peak_kb = max(self.peak_kb, usage.ru_maxrss)
        if pid == self.pid:
            self.status = status
            self.ended = time.monotonic()

    def reap(self):
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.account(pid, status, usage)

    def cpu_used(self):
        self.reap()  # first: a process is then either reaped (counted) or still listed
        if not ISOLATED:
            return self.cpu + (_proc_cpu(self.pid) if self.status is None else 0.0)
        names = os.listdir("/proc")
        return self.cpu + sum(_proc_cpu(n) for n in names if n.isdigit() and n != "1")

    def kill_everything(self):
        if ISOLATED:
            while True:  # kill again before each reap, so a racing fork cannot survive
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    pid, status, usage = os.wait4(-1, 0)
                except ChildProcessError:
                    return
                self.account(pid, status, usage)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.status is None:
            pid, status, usage = os.wait4(self.pid, 0)
            self.account(pid, status, usage)
        self.reap()


def _which(name):
    if name not in _exe_cache:
        _exe_cache[name] = name if "/" in name else shutil.which(name, path=ENV.get("PATH", "/usr/bin:/bin"))
    return _exe_cache[name]


def _child(exe, argv, stdin_fd, out_w, err_w, errpipe_w, limits):
    memory, file_bytes, processes, cpu_us = limits
    try:
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, errpipe_w)
        os.closerange(errpipe_w + 1, 1 << 16)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # ignored ones survive exec
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.setsid()
        cpu = cpu_us // 1_000_000 + 1  # backstop only: the parent sums and polls
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        if UID is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
            os.setgroups([])
            os.setgid(UID)
            os.setuid(UID)
        if _libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        os.chdir(WORKDIR)
        os.execve(exe, argv, ENV)
    except BaseException as exc:  # noqa: BLE001 - the child must end here, never return
        try:
            os.write(errpipe_w, f"{type(exc).__name__}: {exc}".encode()[:500])
        finally:
            os._exit(127)


def execute(frame):
    """(reply fields, stdout, stderr, error text)."""
    magic, wall_us, cpu_us, memory, processes, cap, file_bytes, code_len, stdin_len, name_len, argc = \
        REQUEST.unpack_from(frame)
    if magic != b"RUN1" or not 0 < argc <= 64:
        return None, b"", b"", "malformed request"
    at = REQUEST.size
    filename = frame[at:at + name_len].decode()
    at += name_len
    argv = []
    for _ in range(argc):
        (length,) = struct.unpack_from("<I", frame, at)
        argv.append(frame[at + 4:at + 4 + length].decode())
        at += 4 + length
    code = frame[at:at + code_len]
    stdin_data = frame[at + code_len:at + code_len + stdin_len]
    if "/" in filename or filename in ("", ".", ".."):
        return None, b"", b"", "malformed request"
    exe = _which(argv[0])
    if not exe:
        return None, b"", b"", f"runner '{argv[0]}' not found in the sandbox"
    try:
        os.mkdir(WORKDIR, 0o700)
    except FileExistsError:
        _wipe()
        os.mkdir(WORKDIR, 0o700)
    path = os.path.join(WORKDIR, filename)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    write_all(fd, code)
    os.close(fd)
    if UID is not None:
        os.chown(WORKDIR, UID, UID)
        os.chown(path, UID, UID)
    if stdin_data:
        stdin_fd = os.memfd_create("stdin")
        write_all(stdin_fd, stdin_data)
        os.lseek(stdin_fd, 0, os.SEEK_SET)
    else:
        stdin_fd = os.open("/dev/null", os.O_RDONLY)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    errpipe_r, errpipe_w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(exe, argv, stdin_fd, out_w, err_w, errpipe_w, (memory, file_bytes, processes, cpu_us))
    for fd in (stdin_fd, out_w, err_w, errpipe_w):
        os.close(fd)
    failure = os.read(errpipe_r, 600)  # returns at exec
    os.close(errpipe_r)
    run = Run(pid)
    if failure:
        run.kill_everything()
        os.close(out_r)
        os.close(err_r)
        return None, b"", b"", "could not start the program: " + failure.decode(errors="replace")
    try:
        return _supervise(run, started, out_r, err_r, wall_us / 1e6, cpu_us / 1e6, cap)
    finally:
        os.close(out_r)
        os.close(err_r)


def _supervise(run, started, out_r, err_r, wall, cpu_limit, cap):
    bufs = {out_r: bytearray(), err_r: bytearray()}
    cut = {out_r: False, err_r: False}
    reading = {out_r, err_r}
    pidfd = os.pidfd_open(run.pid)
    poller = select.poll()
    for fd in (out_r, err_r, pidfd):
        poller.register(fd, select.POLLIN)
    reason = 0

    def take(fd):
        """Read one chunk; False once the stream went over its cap."""
        data = os.read(fd, READ_CHUNK)
        if not data:
            poller.unregister(fd)
            reading.discard(fd)
            return True
        room = cap - len(bufs[fd])
        if len(data) > room:
            bufs[fd] += data[:room]
            cut[fd] = True
            return False
        bufs[fd] += data
        return True

    wall_deadline = started + wall
    next_cpu = started + min(CPU_POLL_SECONDS, cpu_limit)
    try:
        while run.status is None and not reason:
            now = time.monotonic()
            if now >= wall_deadline:
                reason = REASON_WALL
                break
            if now >= next_cpu:
                if run.cpu_used() > cpu_limit:
                    reason = REASON_CPU
                    break
                if run.status is not None:
                    break
                next_cpu = now + CPU_POLL_SECONDS
            timeout = max(0.0, min(wall_deadline, next_cpu) - now)
            for fd, _ in poller.poll(timeout * 1000 + 1):
                if fd == pidfd:
                    run.reap()
                    if run.status is not None:
                        poller.unregister(pidfd)
                elif not take(fd):
                    reason = REASON_OUTPUT
        run.kill_everything()
        drain_deadline = time.monotonic() + DRAIN_SECONDS  # every writer is dead: EOF follows
        while reading and reason != REASON_OUTPUT and time.monotonic() < drain_deadline:
            for fd, _ in poller.poll(50):
                if fd != pidfd and not take(fd):
                    reason = REASON_OUTPUT
    finally:
        os.close(pidfd)
    ended = run.ended or time.monotonic()
    exit_code, sig = -1, 0
    if run.status is not None:
        code = os.waitstatus_to_exitcode(run.status)
        exit_code, sig = (code, 0) if code >= 0 else (-1, -code)
    flags = (CUT_STDOUT if cut[out_r] else 0) | (CUT_STDERR if cut[err_r] else 0)
    fields = (exit_code, sig, reason, flags, int((ended - started) * 1e6), int(run.cpu * 1e6), run.peak_kb)
    return fields, bytes(bufs[out_r]), bytes(bufs[err_r]), ""


def reply(fd, fields, out, err, error):
    exit_code, sig, reason, flags, wall_us, cpu_us, peak_kb = fields
    error_bytes = error.encode()
    head = REPLY.pack(b"RES1", exit_code, sig, reason, flags, wall_us, cpu_us, peak_kb,
                      len(out), len(err), len(error_bytes))
    payload = head + out + err + error_bytes
    write_all(fd, struct.pack("<I", len(payload)) + payload)


def main():
    global FILTER_ON
    parse_args(sys.argv[1:])
    FILTER_ON = _restrict_init()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, replies = os.dup(0), os.dup(1)  # keep the protocol away from fds 0-2
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    if ISOLATED:
        for top in WIPE:
            os.chmod(top, 0o1777)
    _wipe()
    hello = b"HELO" + struct.pack("<I", int(FILTER_ON)) + WORKDIR.encode()
    write_all(replies, struct.pack("<I", len(hello)) + hello)
    while True:
        size = read_exact(requests, 4)
        if size is None:
            return
        (length,) = struct.unpack("<I", size)
        frame = read_exact(requests, length) if length <= MAX_REQUEST else None
        if frame is None:
            return
        try:
            fields, out, err, error = execute(frame)
        except Exception as exc:  # noqa: BLE001 - a half-finished run may have left anything behind
            fields, out, err, error = None, b"", b"", f"sandbox init failed: {type(exc).__name__}: {exc}"
        retire = not _wipe() or error.startswith(("sandbox init failed", "malformed"))
        if fields is None:
            fields = (-1, 0, 0, 0, 0, 0, 0)
        if retire:
            fields = fields[:3] + (fields[3] | RETIRE,) + fields[4:]
        reply(replies, fields, out, err, error)
        if retire:
            return


main()
