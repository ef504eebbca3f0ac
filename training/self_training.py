"""Self-training, the pure core: sample k programs per task prompt from the current
checkpoint, keep the ones the sandbox passes (optionally filtered by perplexity, keeping a
share of the surprising ones for diversity), pair passing against failing ones for DPO,
reweight the dataset mix by pass rate, and decide when to stop.

No Django, no sandbox: values in, values out. `training.tasks.self_train` is the shell
that runs the sandbox, stores samples and pairs, freezes datasets and trains.

The reweighting rule (`reweight`)
---------------------------------
Passing samples pile up on the problems the model already solves, so left alone a
self-training dataset drifts towards easy problems ("the rich get richer"). Between rounds
each mix weight is moved towards what the model still fails:

    factor_k = ((1 - p_k) + s) / ((1 - p̄) + s),   clamped to [min_factor, max_factor]
    w'_k     = w_k · factor_k

where p_k is the pass rate measured on the problems that source k's items cover, p̄ the
mean of the p_k (so when every source does equally well nothing moves), and s a smoothing
term (0.1) so a fully solved source is damped, not dropped. The clamp (0.5–2 by default)
bounds what one noisy round can do. Sources without a measured rate keep their weight.
"""
from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

# Which failing program makes the better "rejected" side: a program that runs and
# answers wrongly is a near miss that teaches what the task means; a crash or a syntax
# error mostly teaches the surface, which SFT covers. `sandbox_error` says nothing about
# the program and is never used.
REJECT_PREFERENCE = ("test_failed", "runtime_error", "timeout", "memory_limit", "output_limit", "syntax_error")

FENCE = re.compile(r"(?:^|\n)[ \t]*(```|~~~)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)\n?[ \t]*\1", re.S)
OPEN_FENCE = re.compile(r"\s*(```|~~~)[^\n]*\n(.*)\Z", re.S)


@dataclass(frozen=True)
class Problem:
    """A task to solve: its name, the prompt the model sees (the SFT user message)."""

    name: str
    prompt: str


@dataclass(frozen=True)
class Candidate:
    problem: str  # Problem.name
    index: int  # 0..k-1 within the problem
    text: str  # the raw completion
    code: str  # the program in it (fences stripped)
    finish_reason: str = "stop"


@dataclass(frozen=True)
class RoundStats:
    problems: int
    samples: int
    passed: int
    # passed / samples: the fraction of sampled programs that pass.
    pass_rate: float
    # The unbiased pass@1 estimate, mean over problems of c/n.
    pass_at_1: float
    # Share of problems with at least one passing program among their n samples (pass@n).
    pass_at_k: float
    per_problem: dict[str, float] = field(default_factory=dict)


def code_of(text: str, tags: Sequence[str] = ()) -> str:
    """The program in a completion: the first fenced block tagged as one of `tags`, else the
    first fenced block, else an unterminated fence's body (the model ran out of tokens),
    else the whole text."""
    first = None
    for match in FENCE.finditer(text):
        code = match.group(3).rstrip() + "\n"
        if match.group(2).lower() in tags:
            return code
        if first is None:
            first = code
    if first is not None:
        return first
    opened = OPEN_FENCE.match(text)
    if opened:
        return opened.group(2).rstrip() + "\n"
    return text.strip("\n") + "\n" if text.strip() else ""


def sample_round(backend, problems: Sequence[Problem], *, k: int, temperature: float, max_new_tokens: int,
                 seed: int | None, tags: Sequence[str] = ()) -> list[Candidate]:
    """k completions per problem from `backend` (a training.backends.ModelBackend), in
    problem order, with the program cut out of each."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not problems:
        return []
    answers = backend.generate([p.prompt for p in problems], n=k, temperature=temperature,
                               max_new_tokens=max_new_tokens, seed=seed)
    if len(answers) != len(problems):
        raise ValueError(f"backend answered {len(answers)} prompts for {len(problems)}")
    return [Candidate(problem.name, j, c.text, code_of(c.text, tags), getattr(c, "finish_reason", "stop"))
            for problem, completions in zip(problems, answers) for j, c in enumerate(completions)]


def round_stats(candidates: Sequence[Candidate], passed: Sequence[bool]) -> RoundStats:
    """Pass figures of one round; `passed[i]` says whether candidates[i] passed."""
    if len(candidates) != len(passed):
        raise ValueError(f"{len(candidates)} candidates but {len(passed)} verdicts")
    tally: dict[str, list[int]] = {}
    for candidate, ok in zip(candidates, passed):
        counts = tally.setdefault(candidate.problem, [0, 0])
        counts[0] += bool(ok)
        counts[1] += 1
    per_problem = {name: c / n for name, (c, n) in tally.items()}
    total = len(candidates)
    hits = sum(bool(ok) for ok in passed)
    return RoundStats(
        problems=len(tally), samples=total, passed=hits,
        pass_rate=hits / total if total else 0.0,
        pass_at_1=sum(per_problem.values()) / len(per_problem) if per_problem else 0.0,
        pass_at_k=sum(1 for c, _ in tally.values() if c) / len(tally) if tally else 0.0,
        per_problem=per_problem,
    )


def perplexity_threshold(perplexities: Sequence[float], quantile: float) -> float | None:
    """The value below which `quantile` of the finite perplexities lie (nearest rank)."""
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    values = sorted(p for p in perplexities if p is not None and math.isfinite(p))
    if not values:
        return None
    return values[max(0, math.ceil(quantile * len(values)) - 1)]


@dataclass(frozen=True)
class Selection:
    kept: list[int]  # indices into the candidates, in order
    # Passing but dropped by the perplexity filter: index -> perplexity.
    filtered: dict[int, float] = field(default_factory=dict)
    # Kept although above the threshold (the diversity share).
    kept_high: list[int] = field(default_factory=list)


def select(candidates: Sequence[Candidate], verdicts: Sequence[str], *, perplexities: Sequence[float] | None = None,
           max_perplexity: float | None = None, keep_high_share: float = 0.1, seed: int | None = 0) -> Selection:
    """The passing candidates (verdict "ok"), one per distinct program per problem.

    With `perplexities` (one per candidate, under the base model) and `max_perplexity`,
    passing programs above the threshold are dropped except a random `keep_high_share` of
    them (rounded, at least one when the share is positive): a filter that keeps only what
    the base finds likely would teach the model nothing it did not already find likely.
    A candidate with no finite perplexity counts as above the threshold.
    """
    if len(candidates) != len(verdicts):
        raise ValueError(f"{len(candidates)} candidates but {len(verdicts)} verdicts")
    if perplexities is not None and len(perplexities) != len(candidates):
        raise ValueError(f"{len(candidates)} candidates but {len(perplexities)} perplexities")
    if not 0 <= keep_high_share <= 1:
        raise ValueError(f"keep_high_share must be in [0, 1], got {keep_high_share}")
    seen: set[tuple[str, str]] = set()
    passing = []
    for i, (candidate, verdict) in enumerate(zip(candidates, verdicts)):
        key = (candidate.problem, candidate.code.strip())
        if verdict != "ok" or not key[1] or key in seen:
            continue
        seen.add(key)
        passing.append(i)
    if perplexities is None or max_perplexity is None:
        return Selection(passing)

    def high(i: int) -> bool:
        value = perplexities[i]
        return value is None or not math.isfinite(value) or value > max_perplexity

    above = [i for i in passing if high(i)]
    share = round(keep_high_share * len(above))
    if keep_high_share > 0 and above:
        share = max(1, share)
    rescued = sorted(random.Random(seed).sample(above, share)) if share else []
    dropped = set(above) - set(rescued)
    return Selection([i for i in passing if i not in dropped],
                     filtered={i: perplexities[i] for i in sorted(dropped)}, kept_high=rescued)


def pairs(candidates: Sequence[Candidate], verdicts: Sequence[str], *, max_per_problem: int | None = None
          ) -> list[tuple[int, int]]:
    """(chosen, rejected) index pairs per problem: a passing program against a failing one.

    Failing programs are taken in REJECT_PREFERENCE order (a wrong answer before a crash
    before a syntax error); each program is used at most once, so a problem gives
    min(#passing, #failing) pairs (capped by `max_per_problem`) and one good solution cannot
    dominate. Identical programs count once; one that both passed and failed (flaky) is
    used on neither side; empty programs and sandbox errors are never used.
    """
    if len(candidates) != len(verdicts):
        raise ValueError(f"{len(candidates)} candidates but {len(verdicts)} verdicts")
    rank = {name: r for r, name in enumerate(REJECT_PREFERENCE)}
    by_problem: dict[str, dict[str, tuple[int, set[str]]]] = {}
    for i, (candidate, verdict) in enumerate(zip(candidates, verdicts)):
        code = candidate.code.strip()
        if not code:
            continue
        programs = by_problem.setdefault(candidate.problem, {})
        first, outcomes = programs.setdefault(code, (i, set()))
        outcomes.add(verdict)
    result = []
    for programs in by_problem.values():
        passing = [i for i, outcomes in programs.values() if outcomes == {"ok"}]
        failing = sorted((min(rank[v] for v in outcomes), i) for i, outcomes in programs.values()
                         if "ok" not in outcomes and outcomes <= set(rank))
        count = min(len(passing), len(failing))
        if max_per_problem is not None:
            count = min(count, max_per_problem)
        result += [(passing[n], failing[n][1]) for n in range(count)]
    return result


def source_pass_rates(problem_rates: Mapping[str, float], coverage: Mapping[str, Mapping[str, int]]
                      ) -> dict[str, float]:
    """Pass rate per mix source (a sample kind, "dpo"): the mean of the problems' pass
    rates over the items of that source that belong to a measured problem, weighted by
    how many items each problem has. `coverage` maps source -> problem -> item count."""
    rates = {}
    for source, problems in coverage.items():
        measured = [(problem_rates[p], n) for p, n in problems.items() if p in problem_rates and n > 0]
        total = sum(n for _, n in measured)
        if total:
            rates[source] = sum(rate * n for rate, n in measured) / total
    return rates


def reweight(mix: Mapping[str, float], pass_rates: Mapping[str, float], *, smoothing: float = 0.1,
             min_factor: float = 0.5, max_factor: float = 2.0) -> dict[str, float]:
    """Mix weights moved towards the sources whose problems the model still fails; the
    formula is in the module docstring. A source in `pass_rates` but not in `mix` starts
    from weight 1.0 (what `curation.datasets.freeze` gives an unlisted kind)."""
    if smoothing <= 0:
        raise ValueError("smoothing must be positive")
    if not 0 < min_factor <= 1 <= max_factor:
        raise ValueError("need 0 < min_factor <= 1 <= max_factor")
    for name, rate in pass_rates.items():
        if not 0 <= rate <= 1:
            raise ValueError(f"pass rate of {name!r} must be in [0, 1], got {rate}")
    result = {name: float(weight) for name, weight in mix.items()}
    if not pass_rates:
        return result
    mean = sum(pass_rates.values()) / len(pass_rates)
    for name, rate in pass_rates.items():
        factor = ((1 - rate) + smoothing) / ((1 - mean) + smoothing)
        factor = min(max_factor, max(min_factor, factor))
        result[name] = round(result.get(name, 1.0) * factor, 4)
    return result


@dataclass(frozen=True)
class StopRule:
    """When the loop ends. `max_rounds` always applies; `target` stops once a round's pass
    rate reaches it; `min_gain` stops when a round's pass rate rose by less than that over
    the round before (a plateau), after `patience` such rounds in a row."""

    max_rounds: int
    target: float | None = None
    min_gain: float | None = None
    patience: int = 1
    metric: str = "pass_rate"

    def __post_init__(self):
        if self.max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        if self.target is not None and not 0 < self.target <= 1:
            raise ValueError("target must be in (0, 1]")
        if self.patience < 1:
            raise ValueError("patience must be at least 1")
        if self.metric not in ("pass_rate", "pass_at_1", "pass_at_k"):
            raise ValueError("metric must be pass_rate, pass_at_1 or pass_at_k")


# Stop reasons. After "max_rounds" the round's checkpoint is still trained (the round ran
# in full and the next one is not wanted); after "target" or "plateau" the checkpoint that
# sampled the round is already the one to keep, and training another is skipped.
MAX_ROUNDS, TARGET, PLATEAU = "max_rounds", "target", "plateau"
SKIP_TRAINING = (TARGET, PLATEAU)


def should_stop(history: Sequence[Mapping], rule: StopRule) -> str | None:
    """Why to stop after the last round in `history` (dicts carrying rule.metric), or None."""
    if not history:
        return None
    values = [float(h[rule.metric]) for h in history]
    if rule.target is not None and values[-1] >= rule.target:
        return TARGET
    if rule.min_gain is not None and len(values) > rule.patience:
        gains = [values[i] - values[i - 1] for i in range(len(values) - rule.patience, len(values))]
        if all(g < rule.min_gain for g in gains):
            return PLATEAU
    if len(history) >= rule.max_rounds:
        return MAX_ROUNDS
    return None


def reverse_rows(rows: Sequence[Mapping]) -> list[dict]:
    """SFT rows for the reverse (code -> description) model: each two-turn conversation
    with its turns' contents swapped, so the program is asked and the prompt answered.
    Repeated rows (mix weights upsample) are kept once."""
    seen = set()
    result = []
    for row in rows:
        messages = row.get("messages") or []
        if len(messages) != 2 or messages[0].get("role") != "user" or messages[1].get("role") != "assistant":
            continue
        question, answer = messages[1]["content"], messages[0]["content"]
        if not question.strip() or not answer.strip() or (question, answer) in seen:
            continue
        seen.add((question, answer))
        result.append({"messages": [{"role": "user", "content": question},
                                    {"role": "assistant", "content": answer}]})
    return result


def description_of(text: str) -> str:
    """A reverse-model answer as a prompt: trimmed, with any code block it wrote removed."""
    text = FENCE.sub("\n", text)
    opened = OPEN_FENCE.search(text)
    if opened:
        text = text[: opened.start()]
    return "\n".join(line.rstrip() for line in text.strip().splitlines()).strip()


PairFn = Callable[[Sequence[Candidate], Sequence[str]], list[tuple[int, int]]]
