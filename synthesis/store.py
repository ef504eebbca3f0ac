"""Storing a validated chunk: samples, pairs and doc-QA items with their executions and
provenance, in bulk, skipping what the language already has (same normalised content).

One path for the three kinds: each item becomes a row plus the executions that justify it;
per kind there is one query for the hashes the language already has and one bulk insert,
and the executions go in two bulk inserts (pairs and doc-QA point at theirs, so those are
written first; a sample's executions point at the sample, so those are written after it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from curation.execution import execution_from_result, program_digest
from curation.models import DocQAItem, Execution, Job, Language, PreferencePair, Sample, Task
from sandbox import Program
from sandbox.pack import Pack
from synthesis.pipeline import ChunkReport, Validated
from synthesis.triage import content_hash, normalise

BATCH = 500


def item_hash(pack: Pack, prompt: str, *codes: str) -> str:
    """Exact-duplicate key: the prompt and the normalised code (comments and spacing out),
    the same key triage uses."""
    return content_hash(prompt, "\x1e".join(normalise(code, pack) for code in codes))


@dataclass
class _Row:
    item: Validated
    obj: object  # the unsaved model instance
    # (field on obj, Execution) written before obj; Executions written after obj (sample=obj)
    before: list[tuple[str, Execution]]
    after: list[Execution]


def _key(pack: Pack, item: Validated) -> str:
    if item.kind == "pair":
        return item_hash(pack, item.prompt, item.code, item.rejected_code)
    if item.kind == "docqa":
        return item_hash(pack, item.candidate.question, item.candidate.answer)
    return item.content_hash or item_hash(pack, item.prompt, item.code)


MODELS = {"sample": Sample, "pair": PreferencePair, "docqa": DocQAItem}


def store_chunk(language: Language, pack: Pack, report: ChunkReport, *, job: Job | None, generator: str,
                seed: int | None, licence: str, tasks: dict[str, Task] | None = None) -> dict:
    """Write the chunk's new items; return {"stored": n, "duplicates": m}. Call inside a
    transaction. `tasks` (name → Task) saves a query per chunk when the caller has them."""
    if tasks is None:
        tasks = tasks_by_name(language)
    duplicates = 0
    keyed: dict[str, dict[str, Validated]] = {kind: {} for kind in MODELS}
    for item in report.items:
        h = _key(pack, item)
        bucket = keyed[item.kind]
        duplicates += h in bucket
        bucket.setdefault(h, item)
    for kind, bucket in keyed.items():
        if bucket:
            existing = set(MODELS[kind].objects.filter(language=language, content_hash__in=list(bucket))
                           .values_list("content_hash", flat=True))
            duplicates += len(existing)
            for h in existing:
                del bucket[h]

    common = {"language": language, "generator": generator, "seed": seed, "licence": licence, "job": job}
    build: dict[str, Callable] = {"sample": _sample_row, "pair": _pair_row, "docqa": _docqa_row}
    rows: dict[str, list[_Row]] = {kind: [build[kind](h, item, common, tasks, job) for h, item in bucket.items()]
                                   for kind, bucket in keyed.items()}
    every = [row for kind in MODELS for row in rows[kind]]

    Execution.objects.bulk_create([e for row in every for _, e in row.before], batch_size=BATCH)
    for row in every:
        for field, execution in row.before:
            setattr(row.obj, field, execution)
    for kind, model in MODELS.items():
        if rows[kind]:
            model.objects.bulk_create([row.obj for row in rows[kind]], batch_size=BATCH)
    after = []
    for row in every:
        for execution in row.after:
            execution.sample = row.obj
            after.append(execution)
    Execution.objects.bulk_create(after, batch_size=BATCH)
    return {"stored": len(every), "duplicates": duplicates}


def tasks_by_name(language: Language) -> dict[str, Task]:
    return {t.name: t for t in Task.objects.filter(language=language).only("id", "name")}


def _sample_row(h: str, item: Validated, common: dict, tasks: dict, job) -> _Row:
    c = item.candidate
    metadata = item.metadata
    if getattr(c, "parent", None):
        metadata = {**metadata, "parent_ref": c.parent}
    sample = Sample(kind=item.sample_kind, prompt=item.prompt, code=item.code, metadata=metadata,
                    task=tasks.get(getattr(c, "task", None) or ""), model=getattr(c, "model", "") or "",
                    content_hash=h, verdict=_verdict(item.result), status=item.status,
                    triage_reason=item.triage_reason, **common)
    program = Program(item.code, tests=item.metadata.get("tests"), entry_point=item.metadata.get("entry_point"))
    execution = execution_from_result(item.result, sample=None, digest=program_digest(program), job=job)
    return _Row(item, sample, [], [execution])


def _pair_row(h: str, item: Validated, common: dict, tasks: dict, job) -> _Row:
    c = item.candidate
    pair = PreferencePair(prompt=item.prompt, chosen=item.code, rejected=item.rejected_code,
                          task=tasks.get(c.task or ""), metadata=item.metadata, model=c.model or "",
                          content_hash=h, status=item.status, **common)
    chosen = execution_from_result(item.result, sample=None, digest=_digest(item.code, c), job=job)
    rejected = execution_from_result(item.rejected_result, sample=None, digest=_digest(item.rejected_code, c), job=job)
    return _Row(item, pair, [("chosen_execution", chosen), ("rejected_execution", rejected)], [])


def _docqa_row(h: str, item: Validated, common: dict, tasks: dict, job) -> _Row:
    c = item.candidate
    qa = DocQAItem(question=c.question, answer=c.answer, cited_anchors=list(c.cited_anchors),
                   example_code=c.example_code, metadata=c.metadata, model=c.model or "", content_hash=h,
                   status=item.status, **common)
    before = []
    if item.result is not None:
        before.append(("example_execution",
                       execution_from_result(item.result, sample=None, digest=_digest(c.example_code, c), job=job)))
    return _Row(item, qa, before, [])


def _digest(code: str, c) -> str:
    return program_digest(Program(code, tests=getattr(c, "tests", None), entry_point=getattr(c, "entry_point", None)))


def _verdict(result) -> str:
    return str(getattr(result.verdict, "value", result.verdict)) if result is not None else ""
