"""Validated samples per second, end to end (generate → sandbox → triage → store), against
the sandbox alone running the same programs, in the same run.

End to end is what a synthesis job does: `run_job(job, synthesize)` for several generators
on the Lua pack, writing to a dedicated Postgres database (`scriptorium_bench_synth`,
created if missing; DATABASE_URL overrides it). Every program the jobs send to the sandbox
— the pipeline's validation runs and the probe runs some generators make while generating
(semantic.properties runs its inputs to learn the outputs) — is recorded with its limits.
The baseline runs exactly those programs through `run_many` alone, one call per job: the
ratio is what the Python around the sandbox costs — generation, parsing, triage (dedup,
decontamination) and the database writes.

Both sides use the same validated-sample count as numerator, so the ratio is
  (sandbox-alone time) / (end-to-end time).
A warm-up round fills caches; an instrumented recording round collects the programs and a
breakdown by stage; then each timed round runs every job end to end and its programs alone,
pair by pair in alternating order (the machine is shared, and load that comes and goes
should fall on both sides of a pair), checking each job did the same work as recorded. The
ratio printed last is the median of the rounds' ratios.

  .venv/bin/python bench/synthesis.py            # the ratio
  .venv/bin/python bench/synthesis.py --scale    # 10,000 validated samples across kinds, timed
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "scriptorium_bench_synth"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DATABASE}")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DATA_DIR", str(ROOT / "var" / "bench-synthesis"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scriptorium.settings")
os.environ.pop("DEBUG", None)  # DEBUG keeps every query in memory: not what production pays

ROUNDS = 5
# (generator, candidates): every non-model generator, sized so one round takes seconds.
BENCH = [
    ("syntax.recombine", 200), ("syntax.mutate", 200), ("syntax.grammar", 200), ("negatives.mutate", 200),
    ("semantic.properties", 30), ("augment.rename", 200), ("augment.reformat", 200), ("augment.reorder", 12),
    ("augment.for_while", 21), ("dpo.mutants", 60), ("docqa.sections", 200),
]
# --scale: enough candidates for 10,000 validated samples across kinds (most generators
# are limited by what the pack's 16 examples and training tasks allow).
SCALE = [
    ("syntax.recombine", 3500), ("syntax.mutate", 3000), ("syntax.grammar", 2500), ("negatives.mutate", 2800),
    ("semantic.properties", 150), ("augment.rename", 2500), ("augment.reformat", 900), ("augment.reorder", 20),
    ("augment.for_while", 30), ("dpo.mutants", 60), ("docqa.sections", 200),
]
SCALE_TARGET, SCALE_SECONDS = 10_000, 600


def ensure_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def setup():
    import django

    django.setup()
    ensure_database()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from curation.actions import do_onboard_language
    from curation.models import Language

    language = Language.objects.filter(slug="lua").first()
    if language is None:
        do_onboard_language(ROOT / "languages" / "lua")
        language = Language.objects.get(slug="lua")
    return language


def wipe(language) -> None:
    """What a round stores is removed before the next, so every round stores the same."""
    from django.db import connection

    from curation.models import Job

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE curation_execution, curation_sample, curation_preferencepair, curation_docqaitem "
                       "CASCADE")
    Job.objects.filter(language=language, kind=Job.Kind.SYNTHESIS).delete()


class Recorder:
    """Stands in for sandbox.run_many during an end-to-end round: records each program
    with the limits it ran under, and the wall time of the batches."""

    def __init__(self, run_many):
        self.run_many = run_many
        self.programs: list = []
        self.per_job: dict[str, list] = defaultdict(list)
        self.job = ""  # end_to_end sets the generator whose job is running
        self.seconds: dict[str, float] = defaultdict(float)  # "validation" or "probes"
        self.bucket = "probes"  # validate() switches it while it runs

    def __call__(self, pack, programs, *, limits=None, pool=None):
        from sandbox import Program

        programs = [p if isinstance(p, Program) else Program(p) for p in programs]
        ran = [p if p.limits is not None or limits is None else dataclasses.replace(p, limits=limits) for p in programs]
        self.programs.extend(ran)
        self.per_job[self.job].extend(ran)
        bucket, started = self.bucket, time.perf_counter()
        try:
            yield from self.run_many(pack, programs, limits=limits, pool=pool)
        finally:
            self.seconds[bucket] += time.perf_counter() - started


class Stages:
    """Wall and CPU time (of the thread that ran it) per stage of the end-to-end side."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.cpu[name] += time.thread_time() - cpu
        return timed

    def wrap_generator(self, name: str, make):
        def timed_make(*args, **kwargs):
            iterator = iter(make(*args, **kwargs))
            while True:
                started, cpu = time.perf_counter(), time.thread_time()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self.seconds[name] += time.perf_counter() - started
                    self.cpu[name] += time.thread_time() - cpu
                yield item
        return timed_make


def end_to_end(language, plan, seed: int, *, instrument: bool = True):
    """Run the plan's jobs; returns (seconds, jobs, recorder, stages). Instrumented, every
    sandbox call is recorded and each stage timed; uninstrumented, the jobs run exactly as
    a worker runs them (the timed rounds)."""
    import sandbox
    from curation.jobs import run_job
    from curation.models import Job
    from synthesis import chunks, pipeline, registry, store
    from synthesis.actions import do_start_synthesis
    from synthesis.tasks import synthesize

    recorder, stages = Recorder(sandbox.run_many), Stages()
    saved = (sandbox.run_many, pipeline.validate, chunks.ChunkTriage.filter, store.store_chunk, registry.get_generator,
             chunks.ChunkTriage.__dict__["for_language"])
    if instrument:
        sandbox.run_many = recorder

        def validate(*args, **kwargs):
            recorder.bucket = "validation"
            try:
                return saved[1](*args, **kwargs)
            finally:
                recorder.bucket = "probes"

        pipeline.validate = stages.wrap("validate", validate)
        chunks.ChunkTriage.filter = stages.wrap("triage", chunks.ChunkTriage.filter)
        store.store_chunk = stages.wrap("store", store.store_chunk)
        chunks.ChunkTriage.for_language = classmethod(stages.wrap("setup", saved[5].__func__))
        registry.get_generator = lambda name: stages.wrap_generator("generate", saved[4](name))
    jobs = []
    try:
        started = time.perf_counter()
        for name, count in plan:
            recorder.job = name
            job = do_start_synthesis(language, name, count=count, seed=seed, send=False)
            run_job(job.pk, synthesize)
            jobs.append(job.pk)
        seconds = time.perf_counter() - started
    finally:
        (sandbox.run_many, pipeline.validate, chunks.ChunkTriage.filter, store.store_chunk,
         registry.get_generator) = saved[:5]
        chunks.ChunkTriage.for_language = saved[5]
    jobs = list(Job.objects.filter(pk__in=jobs).order_by("pk"))
    for job in jobs:
        if job.status != Job.Status.SUCCEEDED:
            raise SystemExit(f"job {job.pk} ({job.params['generator']}) {job.status}: {job.error}")
    return seconds, jobs, recorder, stages


def validated_of(jobs) -> int:
    return sum(j.counters.get("passed", 0) + j.counters.get("pairs", 0) for j in jobs)


def stored_of(jobs) -> int:
    return sum(j.counters.get("stored", 0) for j in jobs)


def _work(jobs) -> list:
    """What a round did, job by job: equal between rounds means the same programs ran."""
    keys = ("generated", "executed", "passed", "pairs", "stored", "duplicates", "auto_rejected")
    return [(j.params["generator"], [j.counters.get(k, 0) for k in keys]) for j in jobs]


def sandbox_alone(pack, batches: list[list]) -> float:
    from sandbox import run_many

    started = time.perf_counter()
    for programs in batches:
        for _ in run_many(pack, programs):
            pass
    return time.perf_counter() - started


def bench(rounds: int, plan: list = BENCH) -> None:
    from sandbox.api import default_pool
    from sandbox.pack import load_pack

    language = setup()
    pack = load_pack(language.pack_path)
    default_pool().warm_up()
    # Warm-up: imports, grammars, and what a worker keeps for its lifetime once it has run a
    # job on the pack: the generators' probe cache (runner_probes.ask), the read pack, the
    # parsed corpora and what generators learn from each program (sites, names, layouts;
    # none of it depends on the seed); after it every round runs the same programs.
    wipe(language)
    end_to_end(language, plan, seed=0)
    # The recording round: every program sent to the sandbox, and where the time went.
    wipe(language)
    seconds, jobs, recorded, stages = end_to_end(language, plan, seed=0)
    work = _work(jobs)

    # Paired, job by job: each job end to end, and the sandbox alone on that job's programs
    # (one run_many), back to back in alternating order, so a neighbour's burst of load
    # lands on both sides of a pair rather than on one side of the comparison.
    e2e = {name: [] for name, _ in plan}
    alone = {name: [] for name, _ in plan}
    for r in range(rounds):
        wipe(language)
        for i, (name, count) in enumerate(plan):
            for side in ("e2e", "alone") if (i + r) % 2 == 0 else ("alone", "e2e"):
                if side == "e2e":
                    took, timed, _, _ = end_to_end(language, [(name, count)], seed=0, instrument=False)
                    if _work(timed) != [w for w in work if w[0] == name]:
                        raise SystemExit(f"{name} did different work; the baseline would not be its programs")
                    e2e[name].append(took)
                else:
                    alone[name].append(sandbox_alone(pack, [recorded.per_job[name]]))
    e2e_rounds = [sum(e2e[name][r] for name, _ in plan) for r in range(rounds)]
    alone_rounds = [sum(alone[name][r] for name, _ in plan) for r in range(rounds)]

    programs = recorded.programs
    validated, stored = validated_of(jobs), stored_of(jobs)
    recorder = recorded
    print(f"Lua pack, {len(plan)} generators, {len(programs)} programs per round "
          f"({sum(j.counters.get('executed', 0) for j in jobs)} validation runs, the rest generator probes), "
          f"{validated} validated, {stored} stored; {rounds} timed rounds after a warm-up and a recording round")
    print()
    print(f"{'generator':22}{'candidates':>11}{'validated':>10}{'stored':>8}{'dups':>6}{'rejected':>9}")
    for job in jobs:
        c = job.counters
        print(f"{job.params['generator']:22}{c.get('generated', 0):>11}{c.get('passed', 0) + c.get('pairs', 0):>10}"
              f"{c.get('stored', 0):>8}{c.get('duplicates', 0):>6}{c.get('auto_rejected', 0):>9}")
    print()
    s = stages.seconds
    probes, validation = recorder.seconds["probes"], recorder.seconds["validation"]
    print(f"stages of the recording round ({seconds:.2f} s, instrumented); they overlap: batches run in the")
    print("sandbox while the job generates the next ones and triages and stores earlier ones; CPU seconds are")
    print("those of the thread that ran the stage.")
    c = stages.cpu
    breakdown = [
        ("sandbox batches: validation", validation, None),
        ("sandbox batches: generators' probes", probes, None),
        ("generation (with its probe runs)", s["generate"], c["generate"]),
        ("validate (with its sandbox batch)", s["validate"], c["validate"]),
        ("triage (dedup, decontamination)", s["triage"], c["triage"]),
        ("store (bulk writes)", s["store"], c["store"]),
        ("job set-up (pack, triage indexes)", s["setup"], c["setup"]),
    ]
    print(f"  {'':40}{'wall s':>8}{'CPU s':>8}")
    for label, wall, cpu in breakdown:
        print(f"  {label:40}{wall:8.2f}" + (f"{cpu:8.2f}" if cpu is not None else ""))
    print()
    print(f"{'':22}{'end to end s':>13}{'sandbox alone s':>16}{'ratio':>7}   (medians over the rounds)")
    for name, _ in plan:
        a, b = statistics.median(e2e[name]), statistics.median(alone[name])
        print(f"{name:22}{a:13.2f}{b:16.2f}{b / a:7.2f}")
    print()
    print(f"{'':30}{'samples/s (best)':>17}{'median':>9}   rounds (s)")
    for label, times in (("end to end (synthesize)", e2e_rounds), ("sandbox alone, run_many per job", alone_rounds)):
        print(f"{label:30}{validated / min(times):17.1f}{validated / statistics.median(times):9.1f}   "
              + "  ".join(f"{t:.2f}" for t in times))
    ratios = [a / b for a, b in zip(alone_rounds, e2e_rounds)]
    print(f"ratio of the best rounds: {min(alone_rounds) / min(e2e_rounds):.2f}; each round's ratio: "
          + "  ".join(f"{x:.2f}" for x in ratios))
    print(f"ratio: {statistics.median(ratios):.2f}")


def scale() -> None:
    from collections import Counter

    language = setup()
    from curation.models import DocQAItem, PreferencePair, Sample
    from sandbox.api import default_pool

    default_pool().warm_up()
    wipe(language)
    seconds, jobs, _, _ = end_to_end(language, SCALE, seed=1, instrument=False)
    validated, stored = validated_of(jobs), stored_of(jobs)
    kinds = Counter(Sample.objects.filter(language=language).values_list("kind", flat=True))
    kinds["pair"] = PreferencePair.objects.filter(language=language).count()
    kinds["docqa"] = DocQAItem.objects.filter(language=language).count()
    print(f"{'generator':22}{'candidates':>11}{'validated':>10}{'stored':>8}{'dups':>7}{'seconds':>9}")
    for job in jobs:
        c = job.counters
        took = (job.finished_at - job.started_at).total_seconds()
        print(f"{job.params['generator']:22}{c.get('generated', 0):>11}{c.get('passed', 0) + c.get('pairs', 0):>10}"
              f"{c.get('stored', 0):>8}{c.get('duplicates', 0):>7}{took:9.1f}")
    print(f"stored by kind: {', '.join(f'{k} {n}' for k, n in kinds.most_common())}")
    programs = sum(j.counters.get("executed", 0) for j in jobs)
    verdict = "met" if validated >= SCALE_TARGET and seconds < SCALE_SECONDS else "NOT met"
    print(f"scale: {validated} validated ({stored} stored, {programs} validation runs) in {seconds:.1f} s "
          f"({validated / seconds:.1f}/s) — target {SCALE_TARGET} in {SCALE_SECONDS} s {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", action="store_true", help="10,000 validated samples across kinds, timed")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--mix", choices=("bench", "scale"), default="bench",
                        help="the ratio over 200 candidates per generator (bench), or over the --scale plan, "
                             "whose mix leans on the generators with tiny programs (minutes a round)")
    args = parser.parse_args()
    if args.scale:
        scale()
    else:
        bench(args.rounds, SCALE if args.mix == "scale" else BENCH)


if __name__ == "__main__":
    main()
