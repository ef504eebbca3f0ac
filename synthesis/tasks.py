"""Celery tasks of synthesis: thin shells that load, call the cores, store."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from celery import shared_task

from curation.jobs import JobProgress, run_job

# While batches run in the sandbox, the job's own threads generate, triage and store. The
# sandbox's feeder threads wake on every finished program and need the GIL for a moment;
# with CPython's default 5 ms switch interval they wait behind that Python for longer than
# a small program takes to run (measured here: a busy Python thread cut run_many's rate on
# tiny programs to about a third at 5 ms, to about 0.7 at 0.5 ms).
SWITCH_INTERVAL = 0.0005
# Candidates go to the sandbox in batches of this many as they are generated, so the first
# programs run while the rest of the chunk is still being made; a chunk (the unit of
# storing and of redelivery) is several batches.
VALIDATION_BATCH = 25
ALWAYS_COUNTED = ("generated", "executed", "passed", "stored", "duplicates", "auto_rejected")


@shared_task(name="synthesis.run_generator")
def run_generator(job_id: int) -> None:
    run_job(job_id, synthesize)


@contextmanager
def _short_switch_interval():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


# Read packs by folder, with the size and mtime of every file they had: a worker runs job
# after job on one pack, and reading it (docs, examples, tasks, their digest) is a fixed
# cost of each job that delays its first sandbox batch.
_PACKS: dict[str, tuple[tuple, object]] = {}


def pack_content(path):
    """read_pack(path), re-read only when a file of the pack changed, appeared or went."""
    from pathlib import Path

    from curation.packs import read_pack

    root = Path(path).resolve()
    try:
        stamp = _stamp(str(root))
    except OSError:
        return read_pack(root)
    cached = _PACKS.get(str(root))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    content = read_pack(root)
    if len(_PACKS) >= 16:
        _PACKS.clear()
    _PACKS[str(root)] = (stamp, content)
    return content


def _stamp(root: str) -> tuple:
    """(path, mtime, size) of every file under root. os.scandir hands back what a directory
    listing already knows; pathlib's rglob and a stat per file cost ~3 ms a job on the Lua pack."""
    out, folders = [], [root]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.is_file():
                    s = entry.stat()
                    out.append((entry.path, s.st_mtime_ns, s.st_size))
    return tuple(sorted(out))


def synthesize(progress: JobProgress) -> None:
    """Generate, validate in the sandbox, triage and store, chunk by chunk.

    Each chunk is stored together with the job's counters in one transaction, and
    generators are deterministic for a seed, so a redelivered job skips the chunks it
    already stored and never writes half a chunk. The stages overlap (synthesis.streaming):
    batches run in the sandbox while the next ones are generated and earlier chunks are
    triaged and stored, in order. When the generator raises, the chunks it finished are
    stored first, then the job fails.
    """
    from itertools import islice

    from django.db import transaction

    from sandbox import run_many
    from synthesis.candidates import Source
    from synthesis.chunks import (ChunkTriage, accepted_code, accepted_tests, backend_for, shared_backend,
                                  triage_rules)
    from synthesis.pipeline import ChunkReport, validate
    from synthesis.registry import NEEDS, get_generator, limits_for
    from synthesis.store import store_chunk, tasks_by_name
    from synthesis.streaming import DEFAULT_CHUNK, ChunkStream

    params = progress.params
    language = progress.job.language
    content = pack_content(language.pack_path)
    pack = content.pack
    name, count, seed = params["generator"], int(params["count"]), int(params.get("seed", 0))
    generator_params = dict(params.get("params") or {})
    # A generator's own `count` default (often 50) would otherwise cap a job asked for more.
    generator_params.setdefault("count", count)
    backend = backend_for(params)
    rules = triage_rules(language, params.get("triage") or {})
    scorer = None
    if rules["perplexity"]["on"]:
        # Checked before anything runs: a job that cannot score would otherwise store its
        # chunks unscored, as if the rule were off.
        if backend is None:
            raise ValueError("triage.perplexity is on but the job has no model backend: pass params.backend "
                             "or set TEACHER_BASE_URL")
        backend = shared_backend(backend)
        scorer = backend.score
    if backend is not None:
        generator_params["backend"] = backend
    # What a model-driven generator read and threw away (not JSON, no code, ...), by reason:
    # without it a job whose model answered only garbage would show nothing at all.
    report_of_generator: dict = {}
    generator_params["report"] = report_of_generator
    reported: dict[str, int] = {}
    limits = limits_for(name, params.get("limits"))
    licence = params.get("licence") or pack.licence

    source = Source(content, accepted=accepted_code(language))
    generator = get_generator(name)
    if getattr(generator, "reads_accepted_tests", False):
        # Read here, not by the generator: it runs in another thread, on another connection.
        generator_params["accepted_tests"] = accepted_tests(language)
    candidates = islice(generator(source, generator_params, seed), count)
    chunk_size = int(params.get("chunk_size", DEFAULT_CHUNK))
    # Built when the first batch comes back from the sandbox, not before it is sent: the
    # triage indexes and the task names take a moment the sandbox need not wait for.
    ready: dict = {}

    def triage(items: list) -> tuple[list, dict]:
        if "triage" not in ready:
            ready["triage"] = ChunkTriage.for_language(language, content, params.get("triage") or {}, scorer=scorer)
        return ready["triage"].filter(items)

    # The chunk being written: its transaction, open from its first batch to its store, and
    # what its batches stored so far (see ChunkStream's `write`).
    chunk: dict = {}

    def write(index: int, report: ChunkReport, triage_counts: dict) -> None:
        if "tasks" not in ready:
            ready["tasks"] = tasks_by_name(language)
        if "atomic" not in chunk:
            chunk["atomic"], chunk["stored"] = transaction.atomic(), {"stored": 0, "duplicates": 0}
            chunk["atomic"].__enter__()
        stored = store_chunk(language, pack, report, job=progress.job, generator=name, seed=seed, licence=licence,
                             tasks=ready["tasks"])
        for key, value in stored.items():
            chunk["stored"][key] += value

    def store(index: int, report: ChunkReport, triage_counts: dict, made: int) -> None:
        if "atomic" not in chunk:
            write(index, ChunkReport([], {}), {})
        atomic, stored = chunk.pop("atomic"), chunk.pop("stored")
        try:
            totals = dict.fromkeys(ALWAYS_COUNTED, 0)
            totals["chunks_done"] = 1
            for counts in (report.counts, triage_counts, stored, _skips_since(report_of_generator, reported)):
                for key, value in counts.items():
                    totals[key] = totals.get(key, 0) + value
            # Counters that never moved (no negatives in an augmentation job) stay off the page.
            progress.add(**{key: value for key, value in totals.items() if value or key in ALWAYS_COUNTED})
            progress.update(progress=min(1.0, made / max(count, 1)))
            progress.flush()
        except BaseException:
            atomic.__exit__(*sys.exc_info())
            raise
        atomic.__exit__(None, None, None)  # commits the chunk with the job's counters
        progress.log(f"chunk {index + 1}: {report.counts['generated']} generated, {report.counts['passed']} passed "
                     f"the sandbox, {stored['stored']} stored, {stored['duplicates'] + triage_counts['duplicates']} "
                     "duplicates")

    stream = ChunkStream(lambda batch: validate(pack, batch, run_many, limits=limits), triage, store,
                         chunk_size=chunk_size, batch_size=VALIDATION_BATCH, write=write, total=count,
                         skip=progress.job.counters.get("chunks_done", 0), check=progress.check_cancelled)
    try:
        with _short_switch_interval():
            made = stream.run(candidates)
    except BaseException:
        # The chunk being written when the job failed (or its generator broke) is rolled
        # back before run_job records the failure: only whole chunks are ever stored.
        if "atomic" in chunk:
            chunk.pop("atomic").__exit__(*sys.exc_info())
        raise
    skips = _skips_since(report_of_generator, reported)
    if skips:
        progress.add(**skips)
    if made == 0 and reported:
        progress.log(f"{name} made no candidates: it skipped everything it read ("
                     + ", ".join(f"{reason} {n}" for reason, n in sorted(reported.items())) + "); nothing to run")
    elif made == 0:
        need = NEEDS.get(name)
        progress.log(f"{name} produced no candidates from this pack; nothing to run"
                     + (f" (it needs {need})" if need else ""))
    elif made < count:
        progress.log(f"{name} ran out after {made} of the {count} candidates asked for")


def _skips_since(report: dict, reported: dict[str, int]) -> dict[str, int]:
    """Counters `skipped_<reason>` for the answers the generator skipped since the last call
    (it fills `report` from its own thread; copying a dict is atomic under the GIL). A
    redelivered job's generator skips the answers of its stored chunks again, and counts them."""
    now = dict(report.get("skipped") or {})
    fresh = {f"skipped_{reason}": n - reported.get(reason, 0) for reason, n in now.items()
             if n > reported.get(reason, 0)}
    reported.update(now)
    return fresh
