"""What a slot's process is started with: the bwrap command line, or the unsafe one.

The sandbox sees a read-only /usr (and the /bin, /lib… entries the host has beside it), a
few files of /etc that the dynamic loader and the runners read, its own /proc, a minimal
/dev, size-capped private tmpfs on /tmp and /dev/shm, and — in a root-only directory — the
init (the compiled _init.c, or _init.py with the Python install that runs it). Not /root,
/home, /work, the project or its data.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from sandbox.native import native_init_path

BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"  # read at each slot start; tests point it elsewhere
MODE_VARIABLE = "SCRIPTORIUM_SANDBOX"
TMP_BYTES = 64 << 20
SHM_BYTES = 16 << 20
WORKDIR = "/tmp/run"
INIT_ROOT = "/run/scriptorium"  # 0700 and root-owned: the program cannot even list it
PROGRAM_PATH = "/usr/local/bin:/usr/bin:/bin"
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime")
ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Host configuration that can live under /usr (registry tokens in /usr/local/etc/npmrc, …):
# hidden behind an empty read-only tmpfs.
MASKED = ("/usr/local/etc",)

INIT_FILE = Path(__file__).with_name("_init.py")


class SandboxUnavailable(RuntimeError):
    """No sandbox can be provided; the run's verdict is sandbox_error with this message."""


def sandbox_mode() -> str:
    """'isolated' unless the development-only opt-out is set explicitly; never guessed."""
    value = os.environ.get(MODE_VARIABLE, "").strip().lower()
    if value in ("", "isolated", "bwrap"):
        return "isolated"
    if value == "unsafe":
        return "unsafe"
    raise SandboxUnavailable(f"{MODE_VARIABLE}={value!r} is not understood; unset it, or set 'unsafe' "
                             "for development without isolation")


def program_env(home: str) -> dict[str, str]:
    return {"PATH": PROGRAM_PATH, "HOME": home, "LANG": "C.UTF-8"}


def _interpreter() -> tuple[str, str]:
    """The running interpreter's real executable and installation prefix."""
    exe = os.path.realpath(sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    if not exe.startswith(prefix + os.sep):
        # A venv whose python is a copy, not a link: fall back to the base install's binary.
        candidate = os.path.join(prefix, "bin", f"python{sys.version_info[0]}.{sys.version_info[1]}")
        if not os.path.exists(candidate):
            raise SandboxUnavailable(f"cannot find the base interpreter of {sys.executable}")
        exe = candidate
    return exe, prefix


def init_arguments(*, isolated: bool, uid: int | None, workdir: str, wipe: list[str], home: str) -> list[str]:
    """The command line both inits (_init.c and _init.py) take."""
    args = ["--isolated"] if isolated else []
    if uid is not None:
        args += ["--uid", str(uid)]
    args += ["--workdir", workdir]
    for path in wipe:
        args += ["--wipe", path]
    for key, value in program_env(home).items():
        args += ["--env", f"{key}={value}"]
    return args


def isolated_command(uid: int, *, native: bool = True) -> list[str]:
    if not os.path.exists(BWRAP):
        raise SandboxUnavailable(f"bubblewrap not found at {BWRAP}: refusing to run untrusted code "
                                 f"without isolation (set {MODE_VARIABLE}=unsafe only for development)")
    if os.geteuid() != 0:
        raise SandboxUnavailable("the sandbox must be started as root: it runs each program as an "
                                 "unprivileged uid, which needs setuid inside the sandbox")
    argv = [BWRAP,
            # No user namespace (not --unshare-all): root must stay real root to setuid the
            # program to an unprivileged uid, for which RLIMIT_NPROC then counts.
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv",
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr"]
    for name in ROOT_LINKS:
        path = "/" + name
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in MASKED:
        if os.path.isdir(path):
            argv += ["--tmpfs", path, "--remount-ro", path]
    argv += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(TMP_BYTES), "--perms", "1777", "--tmpfs", "/tmp",
             "--size", str(SHM_BYTES), "--perms", "1777", "--tmpfs", "/dev/shm",
             "--perms", "0700", "--dir", INIT_ROOT]
    args = init_arguments(isolated=True, uid=uid, workdir=WORKDIR, wipe=["/tmp", "/dev/shm"], home="/tmp")
    binary = native_init_path() if native else None
    if binary:
        return argv + ["--ro-bind", binary, f"{INIT_ROOT}/init", "--chdir", "/", f"{INIT_ROOT}/init", *args]
    exe, prefix = _interpreter()
    if prefix == "/usr" or prefix.startswith("/usr/"):
        inner_exe = exe
    else:
        inner_prefix = f"{INIT_ROOT}/python"
        inner_exe = inner_prefix + exe[len(prefix):]
        # A shared libpython is found through an absolute rpath into the host prefix.
        argv += ["--ro-bind", prefix, inner_prefix, "--setenv", "LD_LIBRARY_PATH", f"{inner_prefix}/lib"]
    # A file under the root-only directory rather than `python -c`, so the program does not
    # find the init's source in /proc/1/cmdline.
    return argv + ["--ro-bind", str(INIT_FILE), f"{INIT_ROOT}/init.py", "--chdir", "/",
                   inner_exe, "-I", "-S", "-B", f"{INIT_ROOT}/init.py", *args]


def unsafe_command(uid: int | None, root: str, *, native: bool = True) -> list[str]:
    """Rlimits and a setuid (when root) only: no namespaces, so no containment of leftovers,
    the network or the host's files. Development only, chosen by an explicit variable."""
    args = init_arguments(isolated=False, uid=uid, workdir=os.path.join(root, "run"), wipe=[root], home=root)
    binary = native_init_path() if native else None
    if binary:
        return [binary, *args]
    exe, _ = _interpreter()
    return [exe, "-I", "-S", "-B", str(INIT_FILE), *args]
