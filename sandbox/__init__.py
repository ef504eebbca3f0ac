"""Runs untrusted programs of a language pack under hard limits. Imports nothing of the project.

    run(pack, code, *, stdin=None, tests=None, entry_point=None, limits=None, pool=None) -> Result
    run_many(pack, programs, *, limits=None, pool=None) -> iterator of (index, Result)

Programs run in long-lived sandboxes (pool.py): one bubblewrap namespace set per slot, whose
init (_init.c, or _init.py without a compiler) runs each program as a fresh child under an
unprivileged uid and limits, then kills everything it left and wipes its tmp. Where isolation
cannot be had, the verdict is sandbox_error; SCRIPTORIUM_SANDBOX=unsafe (development only)
runs with rlimits alone.
"""
from sandbox.api import Program, Result, run, run_many
from sandbox.pool import Pool
from sandbox.verdicts import Verdict

__all__ = ["Pool", "Program", "Result", "Verdict", "run", "run_many"]
