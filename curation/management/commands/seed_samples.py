"""manage.py seed_samples --count N — fill a language's review queues with synthetic items
for benchmarks and demos: samples with one execution each, a few DPO pairs and doc-QA items.

On Postgres the samples and executions go in through COPY (psycopg 3 `cursor.copy()`), in
batches, each batch's ids reserved from the sequence under a table lock so executions can
point at their samples without a round trip; elsewhere (SQLite) through bulk_create. The
content is deterministic for a given --seed; a different seed adds different items.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from curation.models import DocQAItem, Execution, Language, PreferencePair, ReviewStatus, Sample

# (generator, sample kind): ten generators, a tenth of the samples each, written in runs
# of JOB_CHUNK rows as synthesis jobs write them (a job's chunk lands together on disk).
GENERATORS = [
    ("grammar-recombine", "syntax"), ("grammar-mutate", "syntax"), ("grammar-generate", "syntax"),
    ("negative-mutate", "negative"), ("errfix-explain", "errfix"), ("semantic-props", "semantic"),
    ("augment-rename", "augment"), ("transpile-python", "transpile"), ("self-instruct", "self_instruct"),
    ("backtranslate", "backtranslate"),
]
TASKS = [
    ("sum_range", "sums the integers from a to b"), ("reverse_words", "reverses the order of the words in a string"),
    ("fibonacci", "returns the n-th Fibonacci number"), ("is_palindrome", "tells whether a string reads the same backwards"),
    ("word_count", "counts how often each word occurs"), ("flatten", "flattens nested tables into one list"),
    ("gcd", "returns the greatest common divisor of two integers"), ("memoize", "caches a function's results"),
    ("binary_search", "finds a value in a sorted table"), ("merge_sorted", "merges two sorted lists"),
    ("count_vowels", "counts the vowels in a string"), ("transpose", "transposes a matrix given as nested tables"),
    ("capitalize", "capitalizes the first letter of every word"), ("unique", "removes duplicates keeping the order"),
    ("clamp", "limits a number to a range"), ("queue_push", "appends to a queue backed by two indices"),
    ("stack_pop", "pops the top of a stack"), ("deep_copy", "copies a table and every table inside it"),
    ("split_lines", "splits text into lines"), ("trim", "removes leading and trailing spaces"),
    ("coroutine_range", "yields the numbers of a range from a coroutine"), ("vector_add", "adds vectors with a metatable"),
    ("utf8_length", "counts the characters of a UTF-8 string"), ("serialize", "turns a table into Lua source text"),
]
WORDS = ["alpha", "beta", "gamma", "delta", "lunar", "solar", "table", "string", "pattern", "closure", "metatable",
         "coroutine", "integer", "float", "queue", "stack", "vector", "matrix", "buffer", "token"]
TEMPLATES = [
    "-- {desc}\nlocal function {name}(a, b)\n  local acc = 0\n  for i = a, b do\n    acc = acc + i\n  end\n"
    "  return acc + {k}\nend\n\nprint({name}({x}, {y}))\n",
    "-- {desc}\nlocal function {name}(s)\n  local out = {{}}\n  for w in s:gmatch(\"%S+\") do\n"
    "    table.insert(out, 1, w)\n  end\n  return table.concat(out, \" \")\nend\n\nprint({name}(\"{w1} {w2} {k}\"))\n",
    "-- {desc}\nlocal function {name}(n)\n  if n < 2 then return n end\n  return {name}(n - 1) + {name}(n - 2)\nend\n\n"
    "for i = 1, {x} do io.write({name}(i), \" \") end\nprint(\"#{k}\")\n",
    "-- {desc}\nlocal {name} = {{}}\n{name}.__index = {name}\n\nfunction {name}.new(x)\n"
    "  return setmetatable({{value = x or {k}}}, {name})\nend\n\nfunction {name}:get()\n  return self.value\nend\n\n"
    "print({name}.new({x}):get())\n",
    "-- {desc}\nlocal cache = {{}}\nlocal function {name}(n)\n  if cache[n] then return cache[n] end\n"
    "  local r = n <= 1 and 1 or n * {name}(n - 1)\n  cache[n] = r\n  return r\nend\n\nprint({name}({x}), {k})\n",
    "-- {desc}\nlocal function {name}(t)\n  return t.{w1}.value + {k}\nend\n\nprint(pcall({name}, {{}}))\n",
]
PROMPTS = ["Write a Lua function `{name}` that {desc}.", "Implement `{name}` in Lua 5.4: it {desc}.",
           "In Lua, define {name}, which {desc}. Print an example.", "Explain and fix: `{name}` {desc} but fails."]
# Verdict weights and, for failures, what the runner said.
VERDICTS = [("ok", 70), ("runtime_error", 10), ("test_failed", 8), ("syntax_error", 7), ("timeout", 2),
            ("output_limit", 1), ("memory_limit", 1), ("sandbox_error", 1)]
ERROR_TYPES = [("undefined_name", "attempt to call a nil value (global '{name}x')"),
               ("index_type", "attempt to index a nil value (field '{w1}')"),
               ("arithmetic_type", "attempt to perform arithmetic on a nil value (local 'n')"),
               ("concat_type", "attempt to concatenate a table value"),
               ("compare_type", "attempt to compare number with nil"),
               ("call_type", "attempt to call a table value")]
JOB_CHUNK = 2_000
SAMPLE_COLUMNS = ["id", "language_id", "kind", "prompt", "code", "metadata", "generator", "seed", "model", "licence",
                  "content_hash", "verdict", "status", "triage_reason", "quality", "claims", "created_at"]
EXECUTION_COLUMNS = ["sample_id", "code_hash", "verdict", "exit_code", "stdout", "stderr", "stdout_truncated",
                     "stderr_truncated", "duration", "cpu_seconds", "peak_memory_kb", "error_line", "error_column",
                     "error_type", "error_message", "created_at"]


def _digest(code: str) -> str:
    """The same digest `curation.execution.program_digest` gives a sample without tests, so
    re-executing a seeded sample finds its execution and adds nothing."""
    payload = json.dumps([code, None, None, None], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def make_rows(language_id: int, first_id: int, start: int, n: int, total: int, *, seed: int, now: dt.datetime):
    """Sample rows and execution rows for items start … start+n-1 of `total`, as tuples in
    SAMPLE_COLUMNS / EXECUTION_COLUMNS order."""
    rng = random.Random(seed * 1_000_003 + start)
    span = dt.timedelta(days=120)
    verdicts = [v for v, _ in VERDICTS]
    weights = [w for _, w in VERDICTS]
    samples, executions = [], []
    for offset in range(n):
        i = start + offset
        run = i // JOB_CHUNK
        generator, kind = GENERATORS[run % len(GENERATORS)]
        name, desc = TASKS[rng.randrange(len(TASKS))]
        w1, w2 = rng.choice(WORDS), rng.choice(WORDS)
        fields = dict(name=name, desc=desc, k=seed * 10_000_000_000 + i, x=rng.randint(1, 20), y=rng.randint(20, 90), w1=w1, w2=w2)
        code = TEMPLATES[rng.randrange(len(TEMPLATES))].format(**fields)
        prompt = PROMPTS[rng.randrange(len(PROMPTS))].format(**fields) + f" Use {w1} and {w2} in the example."
        verdict = "runtime_error" if kind == "negative" else rng.choices(verdicts, weights)[0]
        # Generators 0–4 stay entirely pending (a bulk action over one of them is exactly
        # a tenth of the set); the others carry a few earlier decisions.
        status = ReviewStatus.PENDING
        if run % len(GENERATORS) >= 5 and rng.random() < 0.06:
            status = ReviewStatus.ACCEPTED if rng.random() < 0.7 else ReviewStatus.REJECTED
        metadata = {"flags": ["long_line"]} if rng.random() < 0.03 else {}
        quality = round(rng.random(), 4) if rng.random() < 0.6 else None
        created = now - span + span * (i / max(total, 1))
        sample_id = first_id + offset
        samples.append((sample_id, language_id, kind, prompt, code, json.dumps(metadata), generator, i, "",
                        "CC-BY-4.0", hashlib.sha256(f"{prompt}\n{code}".encode()).hexdigest(), verdict, status,
                        "", quality, 0, created))
        error_type = message = ""
        line = None
        stdout, stderr, exit_code = f"{name} -> {rng.randint(0, 9999)}\n", "", 0
        if verdict in ("runtime_error", "test_failed"):
            error_type, message = ERROR_TYPES[rng.randrange(len(ERROR_TYPES))]
            message = message.format(name=name, w1=w1)
            line = rng.randint(2, 8)
            stderr = f"lua5.4: prog.lua:{line}: {message}\nstack traceback:\n\t[C]: in ?\n"
            exit_code = 1
        elif verdict == "syntax_error":
            error_type, line = "syntax_error", rng.randint(1, 8)
            message = f"'end' expected near '{w1}'"
            stderr, exit_code = f"lua5.4: prog.lua:{line}: {message}\n", 1
        elif verdict != "ok":
            stdout, exit_code = "", None
        executions.append((sample_id, _digest(code), verdict, exit_code, stdout, stderr, False, False,
                           round(rng.uniform(0.002, 0.05), 4), round(rng.uniform(0.001, 0.04), 4),
                           rng.randint(2000, 9000), line, None, error_type, message, created))
    return samples, executions


class Command(BaseCommand):
    help = "Fill a language's review queues with synthetic samples (COPY on Postgres), pairs and doc-QA items."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=1000, help="Samples to add")
        parser.add_argument("--language", default="lua", help="Slug of an onboarded language")
        parser.add_argument("--pairs", type=int, default=None, help="DPO pairs to add (default count/1000, ≤ 2000)")
        parser.add_argument("--docqa", type=int, default=None, help="Doc-QA items to add (default count/1000, ≤ 2000)")
        parser.add_argument("--seed", type=int, default=None, help="Same seed, same content (default: the clock)")
        parser.add_argument("--batch", type=int, default=50_000)

    def handle(self, *args, count: int, language: str, pairs, docqa, seed, batch, **options):
        lang = Language.objects.filter(slug=language).first()
        if lang is None:
            raise CommandError(f"No language {language!r}: onboard it first (manage.py onboard languages/{language}).")
        seed = int(time.time()) % 1_000_000 if seed is None else seed
        started = time.perf_counter()
        now = timezone.now()
        copy = connection.vendor == "postgresql"
        done = 0
        while done < count:
            n = min(batch, count - done)
            with transaction.atomic():
                if copy:
                    self._copy_batch(lang, done, n, count, seed, now)
                else:
                    self._bulk_batch(lang, done, n, count, seed, now)
            done += n
            self.stdout.write(f"  {done:,} / {count:,} samples ({time.perf_counter() - started:.1f} s)")
        n_pairs = min(count // 1000, 2000) if pairs is None else pairs
        n_docqa = min(count // 1000, 2000) if docqa is None else docqa
        self._pairs_and_docqa(lang, n_pairs, n_docqa, seed)
        if copy:
            with connection.cursor() as cursor:
                for table in ("curation_sample", "curation_execution", "curation_preferencepair", "curation_docqaitem"):
                    cursor.execute(f"ANALYZE {table}")
        self.stdout.write(self.style.SUCCESS(
            f"seeded {count:,} samples, {n_pairs:,} pairs, {n_docqa:,} doc-QA items into {lang} "
            f"in {time.perf_counter() - started:.1f} s ({'COPY' if copy else 'bulk_create'})"))

    def _copy_batch(self, lang, start, n, total, seed, now):
        with connection.cursor() as cursor:
            # The lock keeps other writers out of the id range reserved below.
            cursor.execute("LOCK TABLE curation_sample IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute("SELECT nextval(pg_get_serial_sequence('curation_sample', 'id'))")
            first_id = cursor.fetchone()[0]
            cursor.execute("SELECT setval(pg_get_serial_sequence('curation_sample', 'id'), %s)", [first_id + n - 1])
            samples, executions = make_rows(lang.pk, first_id, start, n, total, seed=seed, now=now)
            with cursor.copy(f"COPY curation_sample ({', '.join(SAMPLE_COLUMNS)}) FROM STDIN") as copy:
                for row in samples:
                    copy.write_row(row)
            with cursor.copy(f"COPY curation_execution ({', '.join(EXECUTION_COLUMNS)}) FROM STDIN") as copy:
                for row in executions:
                    copy.write_row(row)

    def _bulk_batch(self, lang, start, n, total, seed, now):
        samples, executions = make_rows(lang.pk, 0, start, n, total, seed=seed, now=now)
        objs = []
        for row in samples:
            values = dict(zip(SAMPLE_COLUMNS, row))
            values.pop("id")
            values["metadata"] = json.loads(values["metadata"])
            objs.append(Sample(**values))
        # auto_now_add stamps these "now": the spread of dates is a Postgres-path nicety.
        created = Sample.objects.bulk_create(objs, batch_size=2000)
        rows = []
        for sample, row in zip(created, executions):
            values = dict(zip(EXECUTION_COLUMNS, row))
            values["sample_id"] = sample.pk
            rows.append(Execution(**values))
        Execution.objects.bulk_create(rows, batch_size=2000)

    def _pairs_and_docqa(self, lang, n_pairs, n_docqa, seed):
        rng = random.Random(seed)
        sections = list(lang.sections.values_list("anchor", "title")[:200]) or [("§1", "Introduction")]
        pair_rows, qa_rows = [], []
        for i in range(n_pairs):
            name, desc = TASKS[i % len(TASKS)]
            good = f"local function {name}(a, b)\n  return a + b\nend\n\nprint({name}({i}, 2))\n"
            bad = f"local function {name}(a, b)\n  return a .. b\nend\n\nprint({name}({i}, {{}}))\n"
            prompt = f"Write `{name}`, which {desc}. (#{seed}-{i})"
            pair_rows.append(PreferencePair(
                language=lang, prompt=prompt, chosen=good, rejected=bad, generator="dpo-pass-fail", seed=i,
                content_hash=hashlib.sha256(f"{prompt}\n{good}\n{bad}".encode()).hexdigest()))
        for i in range(n_docqa):
            cited = rng.sample(sections, k=min(2, len(sections)))
            question = f"What does {cited[0][1].lower()} mean in Lua? (#{seed}-{i})"
            answer = (f"As {cited[0][0]} explains, it is described under “{cited[0][1]}”; "
                      f"see also {cited[-1][0]} for the details.")
            qa_rows.append(DocQAItem(
                language=lang, question=question, answer=answer, cited_anchors=[a for a, _ in cited],
                generator="docqa-sections", seed=i,
                content_hash=hashlib.sha256(f"{question}\n{answer}".encode()).hexdigest()))
        PreferencePair.objects.bulk_create(pair_rows, batch_size=1000)
        DocQAItem.objects.bulk_create(qa_rows, batch_size=1000)
