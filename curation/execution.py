"""Running stored samples in the sandbox and storing their Execution rows, in bulk.

Idempotent: an execution is keyed by (sample, digest of what ran), so a redelivered
chunk finds its work done and writes nothing twice.
"""
from __future__ import annotations

import hashlib
import json
from typing import Iterable

from django.db import transaction

from curation.models import Execution, Language, Sample
from sandbox import Program, run_many
from sandbox.pack import Pack, load_pack

BATCH = 256


def pack_for(language: Language) -> Pack:
    return load_pack(language.pack_path)


def program_for(sample: Sample) -> Program:
    """A sample runs with its task's tests when it has a task, else with the tests (if
    any) that its generator recorded in its metadata."""
    if sample.task_id:
        return Program(sample.code, tests=sample.task.tests, entry_point=sample.task.entry_point,
                       stdin=sample.metadata.get("stdin"))
    meta = sample.metadata or {}
    return Program(sample.code, tests=meta.get("tests"), entry_point=meta.get("entry_point"), stdin=meta.get("stdin"))


def program_digest(program: Program) -> str:
    payload = json.dumps([program.code, program.tests, program.entry_point, program.stdin], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def execution_from_result(result, *, sample: Sample | None, digest: str, job=None) -> Execution:
    return Execution(
        sample=sample, code_hash=digest, verdict=str(getattr(result.verdict, "value", result.verdict)),
        exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr,
        stdout_truncated=result.stdout_truncated, stderr_truncated=result.stderr_truncated,
        duration=result.wall_seconds, cpu_seconds=result.cpu_seconds, peak_memory_kb=result.peak_memory_kb or 0,
        error_line=result.error_line, error_column=result.error_column, error_type=result.error_type or "",
        error_message=(result.error_message or result.message or "")[:2000], job=job,
    )


def execute_and_store(language: Language, samples: Iterable[Sample], *, job=None, pack: Pack | None = None) -> dict:
    """Run the samples that have no execution of their current program; store the results
    and each sample's verdict in one transaction. Returns counts by verdict."""
    pack = pack or pack_for(language)
    samples = list(samples)
    programs = [program_for(s) for s in samples]
    digests = [program_digest(p) for p in programs]
    done = set(Execution.objects.filter(sample__in=samples, code_hash__in=digests).values_list("sample_id", "code_hash"))
    todo = [i for i, s in enumerate(samples) if (s.pk, digests[i]) not in done]
    counts: dict[str, int] = {"skipped": len(samples) - len(todo)}
    rows: list[Execution] = []
    for index, result in run_many(pack, [programs[i] for i in todo]):
        i = todo[index]
        row = execution_from_result(result, sample=samples[i], digest=digests[i], job=job)
        rows.append(row)
        samples[i].verdict = row.verdict
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    with transaction.atomic():
        Execution.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        Sample.objects.bulk_update([samples[i] for i in todo], ["verdict"], batch_size=500)
    return counts


def batches(ids: list[int], size: int = BATCH):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
