"""The evaluation harness: completions → programs → sandbox verdicts → judgements.

- `prepare_completion`: MultiPL-E's stop-token cut for code-continuation prompts; the
  first fenced block for instruction prompts (chat models fence their code).
- `build_program`: neutral-test problems → the solution with the pack's compiled tests
  (sandbox Program(tests=, entry_point=)); MultiPL-E problems → prompt + completion +
  "\\n" + tests, with the language's test library (luaunit) loaded from inside the program.
- `judge`: runs attempts through `sandbox.run_many` in batches and says what happened.
- `self_test`: references pass and known-wrong completions fail — run before any
  evaluation; a failed self-test makes the run invalid, so a missing test library can never
  pass for "the model failed every problem".
- `evaluate`: self-test, generate with a model backend (duck-typed: `generate(prompts, *,
  n, temperature, max_new_tokens, stop, seed) -> list[list[Completion]]`) a batch of
  prompts at a time, and judge each batch in the sandbox while the next one generates.

Measured here (2 cores shared with other work, load average ~3.5, sandbox pool of 2): the
self-test of all 161 HumanEval-Lua problems — 161 empty-body programs, each loading the
luaunit shim and failing its first assertion — takes 0.67-1.03 s, median 0.75 s over 5 runs
(about 215 programs/s); the pack's 24 dev+test tasks (48 runs) about 0.2 s.
A whole HumanEval-Lua run with n = 20 on the tiny base (bench/eval.py --full-humaneval, 320
sequences per batch, one torch thread, load average 4-6): 257 s wall, of which judging
18 s, all but 0.4 s of it hidden behind generation.
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from evaluation import multiple
from evaluation.metrics import doc_grounded, summarize
from evaluation.suites import Problem

BATCH_SIZE = 256
STDERR_KEPT = 2000
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.S)


@dataclass(frozen=True)
class Attempt:
    """One completion to judge (as the model produced it; `prepare_completion` cuts it)."""
    problem: Problem
    completion: str
    sample: int = 0
    seconds: float | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class Judgement:
    problem_id: str
    sample: int
    completion: str  # after stop-token cut / fence extraction: what was run
    verdict: str  # a sandbox verdict; doc-QA: "ok" or "ungrounded"
    passed: bool
    compiles: bool | None  # parses with no ERROR and the runner did not refuse it; None for doc-QA
    error_type: str = ""
    error_message: str = ""
    error_line: int | None = None
    stderr: str = ""
    run_seconds: float = 0.0
    seconds: float | None = None  # generation latency of this sample
    tokens: int | None = None  # generated tokens of this sample

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# ---------------------------------------------------------------- building programs

def extract_code(text: str) -> str:
    """The first fenced code block of a chat answer, or the text itself when it has none."""
    match = _FENCE.search(text)
    return match.group(1) if match else text


def prepare_completion(problem: Problem, raw: str) -> str:
    if problem.kind == "docqa":
        return raw.strip()
    if problem.variant == "completion":
        return multiple.truncate_at_stop_tokens(raw, problem.stop_tokens)
    return extract_code(raw)


def build_program(problem: Problem, completion: str, *, test_libraries: Mapping | None = None,
                  marker: str | None = None):
    """The sandbox Program that judges `completion` (already prepared) for `problem`."""
    from sandbox import Program

    solution = problem.solution(completion)
    if problem.tests is not None:
        return Program(solution, tests=problem.tests, entry_point=problem.entry_point)
    if problem.test_code is not None:
        libraries = multiple.default_test_libraries() if test_libraries is None else test_libraries
        library = libraries.get(problem.language)
        preload = library.preload(marker or "") if library else ""
        return Program(preload + solution + "\n" + problem.test_code)
    return Program(solution)


def _strip_marker(stdout: str, marker: str) -> tuple[str, bool]:
    pattern = re.compile(r"(?m)^" + re.escape(marker) + r"\r?(?:\n|\Z)")
    found = list(pattern.finditer(stdout))
    if not found:
        return stdout, False
    last = found[-1]
    return stdout[:last.start()] + stdout[last.end():], True


def _interpret_test_code(pack, result, marker: str) -> tuple[str, str, str, int | None]:
    """(verdict, error_type, message, line) of a MultiPL-E program, read from its test report."""
    verdict = str(result.verdict)
    _, marker_seen = _strip_marker(result.stdout, marker)
    report = multiple.read_test_report(result.stderr)
    if verdict == "ok":
        if marker_seen and report is not None and report.ran > 0 and report.failures + report.errors == 0:
            return "ok", "", "", None
        return "test_failed", "", "the program exited with status 0 before its tests finished", None
    if verdict == "runtime_error" and report is not None:
        if report.first_kind == "FAIL":
            return "test_failed", "", report.first_message, report.first_line
        if report.first_kind == "ERROR":
            return "runtime_error", pack.errors.type_of(report.first_message), report.first_message, report.first_line
        return "test_failed", "", "the test runner found no tests", None
    return verdict, result.error_type, result.error_message or result.message, result.error_line


# ---------------------------------------------------------------- judging

def judge(pack, attempts: Sequence[Attempt], *, test_libraries: Mapping | None = None, limits=None,
          batch_size: int = BATCH_SIZE, pool=None) -> list[Judgement]:
    """Judge every attempt; results come back in the attempts' order. Code runs in the
    sandbox in batches of `batch_size`; doc-QA answers are judged without running anything."""
    from curation.grammar import GrammarUnavailable, parses
    from sandbox import run_many

    judgements: list[Judgement | None] = [None] * len(attempts)
    code_indices = []
    for i, attempt in enumerate(attempts):
        if attempt.problem.kind == "docqa":
            judgements[i] = judge_answer(attempt)
        else:
            code_indices.append(i)

    for start in range(0, len(code_indices), batch_size):
        batch = code_indices[start:start + batch_size]
        prepared, programs, markers = {}, [], []
        for i in batch:
            attempt = attempts[i]
            completion = prepare_completion(attempt.problem, attempt.completion)
            marker = "scriptorium-tests-done-" + secrets.token_hex(12)
            prepared[i] = completion
            markers.append(marker)
            programs.append(build_program(attempt.problem, completion, test_libraries=test_libraries, marker=marker))
        for position, result in run_many(pack, programs, limits=limits, pool=pool):
            i = batch[position]
            attempt, completion = attempts[i], prepared[i]
            if attempt.problem.test_code is not None and attempt.problem.tests is None:
                verdict, error_type, message, line = _interpret_test_code(pack, result, markers[position])
            else:
                verdict = str(result.verdict)
                error_type, line = result.error_type, result.error_line
                message = result.error_message or result.message
            try:
                well_formed = parses(attempt.problem.solution(completion), pack.grammar)
            except GrammarUnavailable:
                well_formed = True  # no grammar: the runner's verdict decides alone
            judgements[i] = Judgement(
                problem_id=attempt.problem.id, sample=attempt.sample, completion=completion, verdict=verdict,
                passed=verdict == "ok", compiles=well_formed and verdict != "syntax_error",
                error_type=error_type, error_message=message, error_line=line,
                stderr=result.stderr[:STDERR_KEPT], run_seconds=result.wall_seconds,
                seconds=attempt.seconds, tokens=attempt.tokens,
            )
    return judgements  # type: ignore[return-value]


def judge_answer(attempt: Attempt) -> Judgement:
    problem = attempt.problem
    answer = prepare_completion(problem, attempt.completion)
    known = problem.metadata.get("known_anchors") or problem.anchors
    grounding = doc_grounded(answer, problem.anchors, known)
    detail = ", ".join(grounding.missing or grounding.unknown or grounding.cited)
    return Judgement(
        problem_id=problem.id, sample=attempt.sample, completion=answer,
        verdict="ok" if grounding.grounded else "ungrounded", passed=grounding.grounded, compiles=None,
        error_type=grounding.reason, error_message=detail, seconds=attempt.seconds, tokens=attempt.tokens,
    )


# ---------------------------------------------------------------- self-test

@dataclass(frozen=True)
class SelfTestFailure:
    problem_id: str
    check: str  # "reference_passes", "known_wrong_fails", "tests_run", "test_library", "checkable"
    verdict: str
    detail: str


@dataclass
class SelfTestReport:
    problems: int
    executions: int
    seconds: float
    failures: list[SelfTestFailure] = field(default_factory=list)
    without_reference: int = 0  # problems checked by their known-wrong completion only

    @property
    def ok(self) -> bool:
        return self.problems > 0 and not self.failures

    def summary(self) -> str:
        if self.ok:
            return (f"self-test passed: {self.problems} problems, {self.executions} runs in {self.seconds:.1f} s"
                    + (f" ({self.without_reference} without a reference solution)" if self.without_reference else ""))
        if self.problems == 0:
            return "self-test failed: no problems to check"
        first = self.failures[0]
        return (f"self-test failed: {len(self.failures)} check(s) on "
                f"{len({f.problem_id for f in self.failures})} of {self.problems} problems; first: "
                f"{first.problem_id}: {first.check}: {first.verdict} {first.detail}".rstrip())

    def to_dict(self) -> dict:
        return {"ok": self.ok, "problems": self.problems, "executions": self.executions, "seconds": self.seconds,
                "without_reference": self.without_reference, "summary": self.summary(),
                "failures": [f.__dict__ for f in self.failures]}


# The cut must not change a known completion: prepare_completion is applied by judge(), so
# a reference containing a stop token (MultiPL-E "\n\n") would be truncated. Known
# completions are therefore judged with their stop tokens ignored.
def _uncut(problem: Problem) -> Problem:
    if not problem.stop_tokens:
        return problem
    return replace(problem, stop_tokens=())


def self_test(pack, problems: Iterable[Problem], *, test_libraries: Mapping | None = None, limits=None,
              batch_size: int = BATCH_SIZE, pool=None) -> SelfTestReport:
    """Check the harness on what is known: every reference passes, every known-wrong
    completion fails — and, where the tests are raw code, fails *inside the tests* (an
    assertion the test library reported), which proves the test library loaded and provides
    what the tests call. A problem with neither a reference nor a known-wrong completion
    cannot be checked and fails the self-test.
    """
    started = time.monotonic()
    problems = list(problems)
    libraries = multiple.default_test_libraries() if test_libraries is None else test_libraries
    failures: list[SelfTestFailure] = []
    attempts: list[Attempt] = []
    roles: list[str] = []
    without_reference = 0
    for problem in problems:
        if problem.test_code is not None and problem.tests is None:
            library = libraries.get(problem.language)
            if library is None:
                failures.append(SelfTestFailure(problem.id, "test_library", "",
                                                f"no test library for language {problem.language!r}"))
            else:
                missing = library.missing(problem.test_code)
                if missing:
                    failures.append(SelfTestFailure(problem.id, "test_library", "",
                                                    f"the tests call {', '.join(missing)}, which {library.module} "
                                                    f"as shipped does not provide"))
        if problem.reference is None and problem.known_wrong is None:
            failures.append(SelfTestFailure(problem.id, "checkable", "",
                                            "no reference and no known-wrong completion: "
                                            "nothing proves the tests work"))
            continue
        if problem.reference is None:
            without_reference += 1
        else:
            attempts.append(Attempt(problem, problem.reference))
            roles.append("reference")
        if problem.known_wrong is not None:
            attempts.append(Attempt(problem, problem.known_wrong))
            roles.append("known_wrong")

    judged = judge(pack, [Attempt(_uncut(a.problem), a.completion) for a in attempts], test_libraries=libraries,
                   limits=limits, batch_size=batch_size, pool=pool) if attempts else []
    executions = sum(1 for a in attempts if a.problem.kind != "docqa")
    for attempt, role, judgement in zip(attempts, roles, judged):
        problem = attempt.problem
        raw_tests = problem.test_code is not None and problem.tests is None
        detail = (judgement.error_message or judgement.stderr[:300]).strip()
        if judgement.verdict == "sandbox_error":
            failures.append(SelfTestFailure(problem.id, f"{role}_runs", judgement.verdict, detail))
        elif role == "reference" and not judgement.passed:
            failures.append(SelfTestFailure(problem.id, "reference_passes", judgement.verdict, detail))
        elif role == "known_wrong" and judgement.passed:
            failures.append(SelfTestFailure(problem.id, "known_wrong_fails", judgement.verdict,
                                            "the tests accept a known-wrong completion"))
        elif role == "known_wrong" and raw_tests and judgement.verdict != "test_failed":
            failures.append(SelfTestFailure(problem.id, "tests_run", judgement.verdict,
                                            f"the known-wrong completion should fail an assertion, not: {detail}"))
    return SelfTestReport(len(problems), executions, round(time.monotonic() - started, 3), failures, without_reference)


# ---------------------------------------------------------------- a whole evaluation

@dataclass
class EvalRun:
    problems: list[Problem]
    judgements: list[Judgement]
    self_test: SelfTestReport | None
    settings: dict
    seconds: float
    invalid_reason: str = ""
    # Where the time went: wall seconds inside the backend's generate calls, and inside
    # judging (which overlaps generation, so the two add up to more than `seconds`).
    generation_seconds: float = 0.0
    judging_seconds: float = 0.0

    @property
    def valid(self) -> bool:
        return not self.invalid_reason

    def metrics(self, *, ks: Sequence[int] = (1,), seed: int = 0) -> dict:
        return summarize(self.judgements, self.problems, ks=ks, seed=seed)

    def to_dict(self, *, ks: Sequence[int] = (1,)) -> dict:
        """JSON-ready: what a shell stores for the run."""
        return {
            "valid": self.valid, "invalid_reason": self.invalid_reason, "settings": self.settings,
            "seconds": self.seconds, "self_test": self.self_test.to_dict() if self.self_test else None,
            "metrics": {suite: m.to_dict() for suite, m in self.metrics(ks=ks).items()} if self.valid else {},
            "judgements": [j.to_dict() for j in self.judgements],
        }


# Prompts per generate call for a backend that does not say how many sequences it batches.
DEFAULT_PROMPTS_PER_CALL = 8


def prompts_per_call(backend, n: int) -> int:
    """How many prompts one generate call gets: as many as fill the backend's batch
    (`max_batch` sequences, on the backend or the backend it wraps) with their n samples."""
    max_batch = getattr(backend, "max_batch", None) or getattr(getattr(backend, "backend", None), "max_batch", None)
    if not max_batch:
        return DEFAULT_PROMPTS_PER_CALL
    return max(1, int(max_batch) // max(1, n))


def call_seed(seed: int | None, call: int) -> int | None:
    """The seed of the `call`-th generate call of a run seeded `seed`: calls must not reuse
    one seed (every batch would draw the same random numbers), and runs seeded s and s + 1
    (the runner seeds its chunks so) must not share calls."""
    return None if seed is None else seed * 1_000_003 + call


def evaluate(backend, pack, problems: Iterable[Problem], *, n: int = 1, temperature: float = 0.2,
             max_new_tokens: int = 256, seed: int | None = 0, self_test_report: SelfTestReport | None = None,
             test_libraries: Mapping | None = None, limits=None, batch_size: int = BATCH_SIZE, pool=None,
             prompts_per_generate: int | None = None) -> EvalRun:
    """Self-test, then `n` samples per problem from `backend`, then judge them all.

    A failed self-test returns at once an invalid run with no samples: no generation is
    spent on a harness that cannot tell right from wrong. Pass a `self_test_report` computed
    earlier for the same problems to skip the self-test.

    Generation goes `prompts_per_generate` prompts at a time (default: what fills the
    backend's batch), prompts of similar length together (a batch is padded to its longest
    prompt). Each finished call's samples are judged in a background thread while the next
    call generates: the sandbox runs its programs in processes of its own, so judging costs
    the generating thread almost nothing. Judgements come back in problem order, samples
    in order, whatever order they were generated in.
    """
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    problems = list(problems)
    settings = {"n": n, "temperature": temperature, "max_new_tokens": max_new_tokens, "seed": seed}
    report = self_test_report or self_test(pack, problems, test_libraries=test_libraries, limits=limits,
                                           batch_size=batch_size, pool=pool)
    if not report.ok:
        return EvalRun(problems, [], report, settings, round(time.monotonic() - started, 3),
                       invalid_reason=report.summary())

    groups: dict[tuple[str, ...], list[int]] = {}
    for index, problem in enumerate(problems):
        groups.setdefault(tuple(problem.stop_tokens), []).append(index)
    per_call = prompts_per_generate or prompts_per_call(backend, n)
    # Attempts are keyed by their place in the order judgements are returned in: stop-token
    # group, then problem, then sample (the order of one generate call per group).
    order = {index: place for place, index in enumerate(i for members in groups.values() for i in members)}
    timing = {"generation": 0.0, "judging": 0.0}

    def judge_timed(attempts: list[Attempt]) -> list[Judgement]:
        begun = time.perf_counter()
        try:
            return judge(pack, attempts, test_libraries=test_libraries, limits=limits, batch_size=batch_size,
                         pool=pool)
        finally:
            timing["judging"] += time.perf_counter() - begun

    keyed: list[tuple[tuple[int, int], Judgement]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge") as judging:
        pending = []
        call = 0
        for stops, members in groups.items():
            by_length = sorted(members, key=lambda i: len(problems[i].prompt))
            for start in range(0, len(by_length), per_call):
                chunk = by_length[start:start + per_call]
                begun = time.perf_counter()
                outputs = backend.generate([problems[i].prompt for i in chunk], n=n, temperature=temperature,
                                           max_new_tokens=max_new_tokens, stop=list(stops) or None,
                                           seed=call_seed(seed, call))
                timing["generation"] += time.perf_counter() - begun
                call += 1
                attempts, keys = [], []
                for index, completions in zip(chunk, outputs):
                    for sample, completion in enumerate(completions):
                        attempts.append(Attempt(problems[index], completion.text, sample,
                                                getattr(completion, "seconds", None),
                                                _token_count(getattr(completion, "tokens", None))))
                        keys.append((order[index], sample))
                pending.append((keys, judging.submit(judge_timed, attempts)))
        for keys, future in pending:
            keyed.extend(zip(keys, future.result()))
    keyed.sort(key=lambda item: item[0])
    return EvalRun(problems, [j for _, j in keyed], report, settings, round(time.monotonic() - started, 3),
                   generation_seconds=round(timing["generation"], 3), judging_seconds=round(timing["judging"], 3))


def _token_count(tokens) -> int | None:
    if tokens is None:
        return None
    if isinstance(tokens, int):
        return tokens
    try:
        return len(tokens)
    except TypeError:
        return None
