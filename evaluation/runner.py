"""Running one stored EvalRun: load its problems and checkpoint, self-test the harness,
generate (batched) and judge chunk by chunk with progress, then record everything.

The shell between the database and the pure cores (suites, harness, metrics, clusters,
assistant); `evaluation.tasks` and `manage.py evaluate` call `perform_run`.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import threading
import time
from collections import OrderedDict
from typing import Mapping, Sequence

from django.conf import settings as django_settings

from evaluation.decoding import tune_for_generation
from evaluation.models import EvalRun

# Problems per generate call are max_batch // n; a chunk holds a few such calls so the
# job reports progress and notices a cancel often, without starving the batches.
CALLS_PER_CHUNK = 2
VERSION_TIMEOUT = 10.0


# ---------------------------------------------------------------- backends

def backend_options() -> dict:
    """How local checkpoints are run: EVALUATION_MAX_BATCH sequences per forward pass
    (default 320: sixteen prompts of n = 20, sharing each prompt's cache; a full
    HumanEval-Lua run at n = 20 took 3.4 min at 320 and 8.7 min at 60, with ~340 MB of
    cache at the end of a batch) and EVALUATION_THREADS torch threads (settings or
    environment; unset keeps torch's own, since the setting is process-wide). Eval workers
    on a shared 2-core box should set EVALUATION_THREADS=1: an OpenMP barrier waiting on a
    core another process holds costs more than a second thread gains (measured here: 60
    sequences decoded 5x slower with two threads than with one under load)."""
    def read(name: str, default):
        value = getattr(django_settings, name, None) or os.environ.get(name)
        return int(value) if value else default

    return {"max_batch": read("EVALUATION_MAX_BATCH", 320), "threads": read("EVALUATION_THREADS", None)}


_BACKENDS: OrderedDict = OrderedDict()
_BACKENDS_LOCK = threading.Lock()
BACKEND_CACHE_SIZE = 2


def backend_for(checkpoint):
    """The model backend of a checkpoint: its OpenAI-compatible endpoint when its config names
    one ({"endpoint": {"base_url", "model", "chat"}}), else the folder run locally. Local
    models are kept loaded (a couple at a time) for the assistant playground's requests."""
    endpoint = (checkpoint.config or {}).get("endpoint")
    if endpoint:
        from training.backend_settings import endpoint_backend

        return endpoint_backend(endpoint)
    from training.backends import LocalBackend

    options = backend_options()
    key = (checkpoint.path, options["max_batch"], options["threads"])
    with _BACKENDS_LOCK:
        if key in _BACKENDS:
            _BACKENDS.move_to_end(key)
            return _BACKENDS[key]
        backend = LocalBackend(checkpoint.path, **options)
        tune_for_generation(backend)
        _BACKENDS[key] = backend
        while len(_BACKENDS) > BACKEND_CACHE_SIZE:
            _BACKENDS.popitem(last=False)
        return backend


class PreparedBackend:
    """Wraps a backend: formats prompts with the model's chat template when asked, and adds
    up the time spent generating and the completions made."""

    def __init__(self, backend, *, chat: bool = False):
        self.backend = backend
        self.chat = chat
        self.seconds = 0.0
        self.completions = 0

    def format(self, prompt: str) -> str:
        if not self.chat:
            return prompt
        return self.backend.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                          add_generation_prompt=True)

    def generate(self, prompts: list[str], **options) -> list:
        started = time.perf_counter()
        outputs = self.backend.generate([self.format(p) for p in prompts], **options)
        self.seconds += time.perf_counter() - started
        self.completions += sum(len(o) for o in outputs)
        return outputs


def resolve_prompt_format(requested: str, checkpoint, variant: str, backend) -> str:
    """"auto": instruction prompts go through the chat template of a checkpoint trained on
    conversations (SFT, DPO, GRPO) whose tokenizer has one; everything else is raw text."""
    if requested in ("raw", "chat"):
        if requested == "chat" and getattr(getattr(backend, "tokenizer", None), "chat_template", None) is None:
            return "raw"
        return requested
    has_template = getattr(getattr(backend, "tokenizer", None), "chat_template", None) is not None
    from training.backend_settings import CHAT_METHODS

    if variant == "instruction" and checkpoint.method in CHAT_METHODS and has_template:
        return "chat"
    return "raw"


# ---------------------------------------------------------------- toolchain

def toolchain_versions(pack) -> dict:
    """What produced the figures: the pack's runner (its version command, e.g. `lua5.4 -v`),
    Python and the ML libraries."""
    versions = {"python": platform.python_version()}
    if pack.version_command:
        try:
            done = subprocess.run(list(pack.version_command), capture_output=True, text=True, timeout=VERSION_TIMEOUT)
            versions["runner"] = (done.stdout.strip() or done.stderr.strip())[:300]
        except (OSError, subprocess.TimeoutExpired) as exc:
            versions["runner"] = f"unavailable: {exc}"[:300]
    for module in ("torch", "transformers", "peft", "tree_sitter"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 — a missing library is a fact to record, not an error
            versions[module] = ""
    versions["sandbox"] = os.environ.get("SCRIPTORIUM_SANDBOX", "isolated") or "isolated"
    return versions


# ---------------------------------------------------------------- one run

def load_problems(run: EvalRun) -> tuple[list, dict]:
    rows = list(run.suite.problems.filter(active=True).order_by("position"))
    limit = run.settings.get("limit")
    if limit:
        rows = rows[:int(limit)]
    problems = [row.as_problem() for row in rows]
    return problems, {row.key: row for row in rows}


def perform_run(run_id: int, progress=None, *, test_libraries: Mapping | None = None, pool=None) -> EvalRun:
    """Self-test, generate, judge and record run `run_id`. A run already finished is left as
    it is; a failed self-test records the run as invalid and generates nothing.

    `test_libraries` replaces the harness's test libraries (luaunit for MultiPL-E Lua):
    how a deliberately broken harness is shown to be caught."""
    from curation.jobs import JobCancelled
    from evaluation import actions

    run = EvalRun.objects.select_related("suite", "checkpoint", "checkpoint__language").get(pk=run_id)
    if run.status in (EvalRun.Status.FINISHED, EvalRun.Status.INVALID):
        return run
    try:
        _perform(run, progress, test_libraries=test_libraries, pool=pool)
    except JobCancelled:
        actions.do_end_run(run, EvalRun.Status.CANCELLED)
        raise
    except Exception:
        actions.do_end_run(run, EvalRun.Status.FAILED)
        raise
    run.refresh_from_db()
    return run


def _perform(run: EvalRun, progress, *, test_libraries, pool) -> None:
    from curation.packs import read_pack
    from evaluation import actions
    from evaluation.harness import self_test

    started = time.monotonic()
    report_progress = progress or _NoProgress()
    content = read_pack(run.suite.language.pack_path)
    pack = content.pack
    problems, rows = load_problems(run)
    settings = dict(run.settings)
    settings["toolchain"] = toolchain_versions(pack)
    settings["problems"] = len(problems)
    settings["stop_tokens"] = sorted({tuple(p.stop_tokens) for p in problems})
    actions.do_begin_run(run, settings=settings)
    report_progress.log(f"self-test of {len(problems)} problems")

    report = self_test(pack, problems, test_libraries=test_libraries, pool=pool)
    report_progress.log(report.summary())
    if not report.ok:
        actions.do_mark_invalid(run, report, seconds=round(time.monotonic() - started, 3))
        return
    report_progress.check_cancelled()

    raw_backend = backend_for(run.checkpoint)
    prompt_format = resolve_prompt_format(settings["prompt_format"], run.checkpoint, run.suite.variant, raw_backend)
    backend = PreparedBackend(raw_backend, chat=prompt_format == "chat")
    settings["prompt_format_used"] = prompt_format
    settings["backend"] = {"kind": type(raw_backend).__name__, "path": run.checkpoint.path,
                           **({"max_batch": raw_backend.max_batch} if hasattr(raw_backend, "max_batch") else {}),
                           "threads": backend_options()["threads"]}
    actions.do_begin_run(run, settings=settings)

    if run.mode == EvalRun.Mode.ASSISTANT:
        judgements, traces = _generate_assisted(run, backend, content, problems, report, report_progress,
                                                test_libraries=test_libraries, pool=pool)
    else:
        judgements, traces = _generate_plain(run, backend, pack, problems, report, report_progress,
                                             test_libraries=test_libraries, pool=pool)
    report_progress.log(f"{len(judgements)} samples judged; computing metrics and clusters")
    metrics, clusters = summarize_run(judgements, problems, settings["ks"], pack.grammar)
    actions.do_record_results(run, judgements=judgements, traces=traces, problems=rows, report=report,
                              metrics=metrics, clusters=clusters, generation_seconds=round(backend.seconds, 3),
                              seconds=round(time.monotonic() - started, 3))
    headline = (metrics.get("metrics") or {})
    report_progress.log("; ".join(f"{name} {m['value']:.3f}" for name, m in headline.items()))


def chunks_of(problems: Sequence, n: int, max_batch: int) -> list[list]:
    """Problems in chunks for generation, similar prompt lengths together: a batch is padded
    to its longest prompt, and every padding position costs as much as a real token."""
    ordered = sorted(problems, key=lambda p: len(p.prompt))
    size = max(1, max_batch // max(n, 1)) * CALLS_PER_CHUNK
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def _generate_plain(run, backend, pack, problems, report, progress, *, test_libraries, pool):
    from evaluation.harness import evaluate

    s = run.settings
    n = s["n"]
    judgements = []
    chunks = chunks_of(problems, n, getattr(backend.backend, "max_batch", 32))
    for index, chunk in enumerate(chunks):
        progress.check_cancelled()
        result = evaluate(backend, pack, chunk, n=n, temperature=s["temperature"], max_new_tokens=s["max_new_tokens"],
                          seed=(s["seed"] + index) if s.get("seed") is not None else None, self_test_report=report,
                          test_libraries=test_libraries, pool=pool)
        judgements.extend(result.judgements)
        progress.update(progress=(index + 1) / len(chunks),
                        counters={"problems": sum(len(c) for c in chunks[:index + 1]), "samples": len(judgements),
                                  "passed": sum(1 for j in judgements if j.passed)})
    return judgements, {}


def _generate_assisted(run, backend, content, problems, report, progress, *, test_libraries, pool):
    from evaluation import assistant

    s = run.settings
    options = s.get("assistant") or {}
    helper = assistant.Assistant(
        content, shots=assistant.accepted_shots(run.suite.language) if options.get("few_shot") else [],
        retrieval=options.get("retrieval", True), few_shot=int(options.get("few_shot", 0)),
        repair_rounds=int(options.get("repair_rounds", 0)), test_libraries=test_libraries, pool=pool)
    judgements, traces = [], {}
    chunks = chunks_of(problems, s["n"], getattr(backend.backend, "max_batch", 32))
    for index, chunk in enumerate(chunks):
        progress.check_cancelled()
        results = helper.solve_many(backend, chunk, n=s["n"], temperature=s["temperature"],
                                    max_new_tokens=s["max_new_tokens"],
                                    seed=(s["seed"] + index) if s.get("seed") is not None else None)
        for outcome in results:
            judgements.append(outcome.judgement)
            traces[(outcome.judgement.problem_id, outcome.judgement.sample)] = outcome.trace_dicts()
        progress.update(progress=(index + 1) / len(chunks),
                        counters={"problems": sum(len(c) for c in chunks[:index + 1]), "samples": len(judgements),
                                  "passed": sum(1 for j in judgements if j.passed)})
    return judgements, traces


def summarize_run(judgements: list, problems: list, ks: Sequence[int], grammar: str) -> tuple[dict, dict]:
    """(metrics, clusters) of one run's judgements, JSON-ready."""
    from curation.grammar import GrammarUnavailable
    from evaluation.clusters import by_category, by_construct, by_error_type
    from evaluation.metrics import summarize

    summary = summarize(judgements, problems, ks=ks or (1,))
    metrics = next(iter(summary.values())).to_dict() if summary else {}
    try:
        constructs = [dataclasses.asdict(c) for c in by_construct(judgements, problems, grammar)]
    except GrammarUnavailable:
        constructs = []
    clusters = {
        "error_types": [dataclasses.asdict(c) for c in by_error_type(judgements)],
        "constructs": constructs,
        "categories": [dataclasses.asdict(c) for c in by_category(judgements, problems)],
    }
    return metrics, clusters


class _NoProgress:
    def log(self, line: str) -> None:
        pass

    def update(self, **kwargs) -> None:
        pass

    def check_cancelled(self) -> None:
        pass
