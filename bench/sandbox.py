"""Executions per second of small Lua programs: sandboxed run_many against bare lua5.4 spawns.

Both sides use the same parallelism (one worker per core) and the same programs, measured in
the same run after a warm-up. Run: .venv/bin/python bench/sandbox.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import Pool, run_many  # noqa: E402
from sandbox.native import native_init_path  # noqa: E402
from sandbox.pack import load_pack  # noqa: E402

PROGRAMS = 400
ROUNDS = 3
CODE = "local x = 0 for i=1,{n} do x = x + i end print(x)"


def programs() -> list[str]:
    # Distinct sources (as in real use) that all do the same amount of work.
    return [CODE.format(n=100) + f" -- {i}" for i in range(PROGRAMS)]


def bare_rate(sources: list[str], workers: int, argv: list[str]) -> float:
    """One thread per core, each spawning the runner on a temp file.

    The files are written before the clock starts, so the baseline is the bare spawn rate
    (the sandbox, by contrast, is timed writing each program into its private tmp).
    """
    directory = tempfile.mkdtemp(prefix="bench-sandbox-")
    paths = []
    for i, source in enumerate(sources):
        paths.append(os.path.join(directory, f"prog{i}.lua"))
        Path(paths[-1]).write_text(source)
    chunks = [paths[i::workers] for i in range(workers)]

    def work(chunk: list[str]) -> None:
        for path in chunk:
            done = subprocess.run([part.replace("{file}", path) for part in argv], capture_output=True)
            assert done.stdout == b"5050\n", done

    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    try:
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(sources) / (time.perf_counter() - start)
    finally:
        shutil.rmtree(directory)


def sandboxed_rate(pack, pool: Pool, sources: list[str]) -> float:
    start = time.perf_counter()
    for _, result in run_many(pack, sources, pool=pool):
        assert result.verdict == "ok" and result.stdout == "5050\n", result
    return len(sources) / (time.perf_counter() - start)


def main() -> None:
    pack = load_pack(ROOT / "languages" / "lua")
    workers = os.cpu_count() or 1
    sources = programs()
    command = list(pack.command)
    rates: dict[str, list[float]] = {"bare lua5.4 spawn": [], "sandboxed run_many": [],
                                     "  with the Python init": []}
    with Pool(workers) as pool, Pool(workers, native=False) as fallback:
        for warm in (pool, fallback):
            warm.warm_up()
            sandboxed_rate(pack, warm, sources[:50])
        bare_rate(sources[:50], workers, command)
        for _ in range(ROUNDS):  # interleaved, so a noisy neighbour hurts every side alike
            rates["bare lua5.4 spawn"].append(bare_rate(sources, workers, command))
            rates["sandboxed run_many"].append(sandboxed_rate(pack, pool, sources))
            rates["  with the Python init"].append(sandboxed_rate(pack, fallback, sources))
    best = {name: max(values) for name, values in rates.items()}
    print(f"{'':24}{'runs/s (best)':>14}{'vs bare':>9}{'all rounds':>22}")
    for name, values in rates.items():
        rounds = "  ".join(f"{r:.0f}" for r in values)
        print(f"{name:24}{best[name]:14.0f}{best[name] / best['bare lua5.4 spawn']:9.2f}{rounds:>22}")
    init = "C (_init.c)" if native_init_path() else "Python (_init.py): no C compiler"
    print(f"programs: {PROGRAMS} per round, workers: {workers}, rounds: {ROUNDS}, default init: {init}, "
          f"load average: {os.getloadavg()[0]:.1f}")
    print(f"ratio: {best['sandboxed run_many'] / best['bare lua5.4 spawn']:.2f}")


if __name__ == "__main__":
    main()
