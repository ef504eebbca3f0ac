"""Evaluation generation throughput: batched against one-prompt-at-a-time, same model, same run.

Both sides make the same completions an evaluation run makes — the first PROMPTS
HumanEval-Lua prompts, N samples each, temperature 0.2, MultiPL-E's stop tokens,
MAX_NEW_TOKENS new tokens at most — with `training.backends.LocalBackend` (its shared-prefix
sampler), tuned as `evaluation.runner` tunes it (eager attention on CPU; static KV cache for
transformers' generate; `--library-defaults` keeps transformers' defaults), on the tiny
base built from the Lua pack's code (vocab 2000, hidden 128, 4 layers, as in FACTS.md).
The batched side is what `evaluation.runner` does: one `generate` call for all prompts
with `n=N`, every prompt's samples decoded together (up to `max_batch` sequences per
forward pass). The baseline calls `generate` once per prompt and sample.

Throughput is completions per second (the unit of evaluation work); generated tokens
per second are printed too (the batched side decodes until every sequence of a batch
has stopped, so it may generate more tokens for the same completions). The machines are
shared, and interference only ever adds time, so the ratio compares each side's best of
ROUNDS alternating rounds. Run: .venv/bin/python bench/eval.py [--threads N]

`--full-humaneval` measures the issue's other figure instead: a whole HumanEval-Lua run
(161 problems, n = 20, the code suites' defaults: temperature 0.2, 256 new tokens) on a
freshly built tiny base, through the harness core a real run uses (`self_test`, then
`evaluate`: batched generation with judging overlapped). It prints wall and CPU time (this
process, and the sandbox processes, reaped when the pool closes), completions per second,
the split between generation and sandbox judging, and the load average, since the
machines are shared. Run: .venv/bin/python bench/eval.py --full-humaneval [--max-batch N]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import training  # noqa: E402,F401  (offline switches first)
from curation.packs import read_pack  # noqa: E402
from evaluation.suites import multiple_suite  # noqa: E402
from training.tiny_base import build_tiny_base  # noqa: E402

HUMANEVAL_LUA = Path("/work/shared/benchmarks/multipl-e/humaneval-lua.jsonl")
PROMPTS = 3
N = 20
MAX_NEW_TOKENS = 128
TEMPERATURE = 0.2
MAX_BATCH = 60
ROUNDS = 2
# A real HumanEval-Lua run: evaluation.actions' defaults for code suites.
FULL_N = 20
FULL_TEMPERATURE = 0.2
FULL_MAX_NEW_TOKENS = 256
FULL_MAX_BATCH = 320  # sequences per forward pass: 16 prompts x 20 samples
TARGET_MINUTES = 10


def build_model(folder: Path) -> Path:
    content = read_pack(ROOT / "languages" / "lua")
    pack = content.pack
    corpus = [e.code for e in content.examples] + [t.reference for t in content.tasks if t.split == "train"]
    return build_tiny_base(corpus, folder, keep_whole=list(pack.keywords) + list(pack.operators), seed=0)


def batched(backend, problems, stop, seed: int) -> tuple[int, int]:
    outputs = backend.generate([p.prompt for p in problems], n=N, temperature=TEMPERATURE,
                               max_new_tokens=MAX_NEW_TOKENS, stop=stop, seed=seed)
    return sum(len(o) for o in outputs), sum(c.tokens for o in outputs for c in o)


def one_at_a_time(backend, problems, stop, seed: int) -> tuple[int, int]:
    completions = tokens = 0
    for i, problem in enumerate(problems):
        for sample in range(N):
            out = backend.generate([problem.prompt], n=1, temperature=TEMPERATURE, max_new_tokens=MAX_NEW_TOKENS,
                                   stop=stop, seed=seed * 10_000 + i * N + sample)
            completions += 1
            tokens += out[0][0].tokens
    return completions, tokens


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def full_humaneval(args) -> None:
    """One whole HumanEval-Lua evaluation, n = 20, the way evaluation.runner performs a run."""
    from evaluation.decoding import tune_for_generation
    from evaluation.harness import evaluate, self_test
    from sandbox.api import close_default_pool
    from training.backends import LocalBackend

    pack = read_pack(ROOT / "languages" / "lua").pack
    problems = multiple_suite(HUMANEVAL_LUA)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        built = time.perf_counter()
        model_dir = build_model(Path(folder) / "tiny")
        backend = LocalBackend(model_dir, max_batch=args.max_batch, threads=args.threads,
                               decoder="library" if args.library_defaults else "auto")
        tune_for_generation(backend)
        print(f"tiny base built and loaded in {time.perf_counter() - built:.1f} s; {len(problems)} problems x "
              f"{FULL_N} samples, temperature {FULL_TEMPERATURE}, {FULL_MAX_NEW_TOKENS} new tokens max, "
              f"max_batch {args.max_batch}, {args.threads} thread(s), decoder {backend.decoder}")
        cpu_before = _cpu_seconds(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = self_test(pack, problems)
        if not report.ok:
            raise SystemExit(report.summary())
        result = evaluate(backend, pack, problems, n=FULL_N, temperature=FULL_TEMPERATURE,
                          max_new_tokens=FULL_MAX_NEW_TOKENS, seed=0, self_test_report=report)
        wall = time.perf_counter() - started
        cpu = _cpu_seconds(resource.RUSAGE_SELF) - cpu_before
        close_default_pool()  # the sandboxes' CPU time is counted once they are reaped
        children = _cpu_seconds(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()
    judgements = result.judgements
    tokens = sum(j.tokens or 0 for j in judgements)
    pass1 = result.metrics()[problems[0].suite].metrics["Pass@1"].value
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} "
          f"{load_after[1]:.2f} (1 and 5 min)")
    print(f"{'figure':<34}{'value':>12}")
    rows = [
        ("completions", f"{len(judgements)}"),
        ("generated tokens", f"{tokens}"),
        ("self-test s", f"{report.seconds:.1f}"),
        ("generation s (wall)", f"{result.generation_seconds:.1f}"),
        ("judging s (wall, overlapped)", f"{result.judging_seconds:.1f}"),
        ("  of it not hidden by generation", f"{max(0.0, wall - report.seconds - result.generation_seconds):.1f}"),
        ("wall s", f"{wall:.1f}"),
        ("CPU s, this process", f"{cpu:.1f}"),
        ("CPU s, sandbox processes", f"{children:.1f}"),
        ("completions/s (wall)", f"{len(judgements) / wall:.2f}"),
        ("tokens/s (generation wall)", f"{tokens / max(result.generation_seconds, 1e-9):.0f}"),
        ("Pass@1", f"{pass1:.3f}"),
    ]
    for name, value in rows:
        print(f"{name:<34}{value:>12}")
    print(f"full humaneval-lua n={FULL_N}: wall {wall / 60:.1f} min, CPU {(cpu + children) / 60:.1f} min "
          f"(target <= {TARGET_MINUTES} min wall on 2 cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TORCH_THREADS", 1)),
                        help="torch threads (1 is steadiest on shared cores; TORCH_THREADS as in settings)")
    parser.add_argument("--library-defaults", action="store_true",
                        help="keep transformers' dynamic cache and SDPA instead of what evaluation.runner sets "
                             "(with --full-humaneval: transformers' generate instead of the shared-prefix sampler)")
    parser.add_argument("--full-humaneval", action="store_true",
                        help="time a whole HumanEval-Lua run with n = 20 instead of the batched/one-at-a-time ratio")
    parser.add_argument("--max-batch", type=int, default=FULL_MAX_BATCH,
                        help="sequences per forward pass for --full-humaneval")
    args = parser.parse_args()
    if args.full_humaneval:
        full_humaneval(args)
        return

    from evaluation.decoding import tune_for_generation
    from training.backends import LocalBackend

    problems = multiple_suite(HUMANEVAL_LUA)[:PROMPTS]
    stop = list(problems[0].stop_tokens)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        model_dir = build_model(Path(folder) / "tiny")
        backend = LocalBackend(model_dir, max_batch=MAX_BATCH, threads=args.threads)
        if not args.library_defaults:
            tune_for_generation(backend)
        print(f"tiny base built and loaded in {time.perf_counter() - started:.1f} s; "
              f"{PROMPTS} prompts x {N} samples, {MAX_NEW_TOKENS} new tokens max, {args.threads} thread(s)")
        backend.generate([problems[0].prompt], n=2, temperature=TEMPERATURE, max_new_tokens=4, stop=stop, seed=0)

        results: dict[str, list[tuple[float, int, int]]] = {"batched": [], "one at a time": []}
        for round_ in range(ROUNDS):
            for name, side in (("batched", batched), ("one at a time", one_at_a_time)):
                t0 = time.perf_counter()
                completions, tokens = side(backend, problems, stop, seed=round_)
                results[name].append((time.perf_counter() - t0, completions, tokens))

    print(f"{'side':<15}{'best s':>9}{'median s':>10}{'completions/s':>15}{'tokens/s':>10}")
    best = {}
    for name, rows in results.items():
        seconds = [r[0] for r in rows]
        fastest = min(rows, key=lambda r: r[0])
        best[name] = fastest[1] / fastest[0]
        print(f"{name:<15}{fastest[0]:>9.2f}{statistics.median(seconds):>10.2f}{best[name]:>15.2f}"
              f"{fastest[2] / fastest[0]:>10.0f}")
    print(f"ratio: {best['batched'] / best['one at a time']:.2f}")


if __name__ == "__main__":
    main()
