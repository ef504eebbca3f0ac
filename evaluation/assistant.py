"""The assistant: inference-time help for a code model, measured as uplift.

prompt → keyword retrieval of the pack's doc sections (synthesis.retrieval) and of
similar accepted samples (dynamic few-shot) → generation → run in the sandbox → up to N
repair rounds, each fed the runner's real error message → an answer with its trace and
the anchors it stands on.

`Assistant.solve_many` does this for many problems × n samples at once, batched per
round: every first attempt is one batched generate call, every repair round one more for
the attempts still failing, so the assistant keeps the model's batching. Its judgements
carry the cost of every round (tokens and seconds add up), so an uplift is never
free in the figures. `Assistant.answer` is the playground's single prompt.

No Django here apart from `accepted_shots`, which reads the accepted samples.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from evaluation.harness import Attempt, Judgement, judge, prepare_completion
from evaluation.metrics import cited_anchors
from evaluation.suites import Problem
from synthesis.retrieval import SectionIndex

SECTION_CHARS = 700
SHOT_CHARS = 900
MESSAGE_CHARS = 600
ATTEMPT_LINES = 40
# Kinds of accepted sample whose (prompt, code) is a worked example of a task.
SHOT_KINDS = ("semantic", "augment", "transpile", "self_instruct", "backtranslate", "errfix")
MAX_SHOTS_LOADED = 2000


@dataclass(frozen=True)
class Shot:
    """An accepted sample used as a worked example; shaped like a doc section for the index."""
    anchor: str  # "sample:<id>"
    title: str  # its prompt
    body: str  # its code


@dataclass
class Round:
    number: int  # 0 is the first attempt, 1.. the repairs
    prompt: str
    completion: str
    verdict: str
    passed: bool
    error_message: str = ""
    seconds: float | None = None
    tokens: int | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Outcome:
    """One sample's way through the assistant: its final judgement and every round."""
    problem: Problem
    sample: int
    judgement: Judgement
    rounds: list[Round] = field(default_factory=list)
    anchors: tuple[str, ...] = ()  # the doc sections put in front of the model
    shots: tuple[str, ...] = ()  # the accepted samples shown as examples

    def trace_dicts(self) -> list[dict]:
        return [dict(r.to_dict(), anchors=list(self.anchors), shots=list(self.shots)) for r in self.rounds]


@dataclass(frozen=True)
class Answer:
    """The playground's answer: the final text and code, what running it gave, the trace and
    the anchors (retrieved, and those the model itself cited that exist)."""
    text: str
    code: str
    verdict: str
    passed: bool
    error_message: str
    rounds: list[Round]
    anchors: tuple[str, ...]
    cited: tuple[str, ...]
    shots: tuple[str, ...]


def failure_text(judgement: Judgement) -> str:
    """The real message a repair round is fed: the runner's error, else its stderr."""
    message = (judgement.error_message or "").strip()
    if not message:
        message = (judgement.stderr or "").strip()
    text = f"{judgement.verdict}: {message}" if message else judgement.verdict
    return text[:MESSAGE_CHARS]


def _commented(text: str, comment: str, *, max_lines: int | None = None) -> str:
    lines = text.rstrip("\n").splitlines() or [""]
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines] + ["[...]"]
    return "".join(f"{comment} {line}".rstrip() + "\n" for line in lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] + "\n[...]"


class Assistant:
    def __init__(self, content, *, shots: Sequence[Shot] = (), retrieval: bool = True, k_sections: int = 3,
                 few_shot: int = 2, repair_rounds: int = 2, test_libraries: Mapping | None = None, pool=None,
                 limits=None):
        self.pack = content.pack
        self.retrieval = retrieval
        self.k_sections = k_sections if retrieval else 0
        self.few_shot = few_shot if shots else 0
        self.repair_rounds = repair_rounds
        self.test_libraries = test_libraries
        self.pool = pool
        self.limits = limits
        self.known_anchors = {s.anchor for s in content.sections}
        # Keywords are noise for retrieval: every program says "function" and "end".
        self.sections = SectionIndex(content.sections, extra_stopwords=self.pack.keywords)
        self.shots = SectionIndex(list(shots), title_weight=2, extra_stopwords=self.pack.keywords) if shots else None

    # ------------------------------------------------------------ prompts

    def context(self, query: str) -> tuple[list, list]:
        hits = self.sections.search(query, k=self.k_sections) if self.k_sections else []
        shots = self.shots.search(query, k=self.few_shot) if self.shots is not None and self.few_shot else []
        return [h.section for h in hits], [h.section for h in shots]

    def first_prompt(self, problem: Problem, sections: list, shots: list) -> str:
        pack = self.pack
        if problem.variant == "completion":
            comment = pack.line_comment or "#"
            parts = []
            for section in sections:
                parts.append(_commented(f"{section.anchor} {section.title}\n{_clip(section.body, SECTION_CHARS)}",
                                        comment))
            for shot in shots:
                parts.append(_commented(shot.title, comment) + _clip(shot.body, SHOT_CHARS).rstrip("\n") + "\n")
            return "".join(part + "\n" for part in parts) + problem.prompt
        lines = []
        if sections:
            lines.append(f"Reference sections of the {pack.name} manual:\n")
            for section in sections:
                lines.append(f"{section.anchor} {section.title}\n{_clip(section.body, SECTION_CHARS)}\n")
        if shots:
            lines.append("Solved examples:\n")
            for shot in shots:
                lines.append(f"Task: {shot.title.strip()}\n```{pack.slug}\n{_clip(shot.body, SHOT_CHARS).strip()}\n```\n")
        if problem.kind == "docqa":
            lines.append(problem.prompt)
        else:
            lines.append(f"Task: {problem.prompt.strip()}\n"
                         f"Answer with the {pack.name} code in one ```{pack.slug} block"
                         + (" and cite the sections you used (§…)." if sections else "."))
        return "\n".join(lines)

    def repair_prompt(self, problem: Problem, first: str, completion: str, judgement: Judgement) -> str:
        pack = self.pack
        message = failure_text(judgement)
        if problem.variant == "completion":
            comment = pack.line_comment or "#"
            context = first[: len(first) - len(problem.prompt)] if first.endswith(problem.prompt) else ""
            feedback = (f"{comment} A previous attempt at this function:\n"
                        + _commented(problem.solution(completion), comment, max_lines=ATTEMPT_LINES)
                        + f"{comment} failed when run:\n" + _commented(message, comment, max_lines=8)
                        + f"{comment} A corrected version:\n")
            return context + feedback + problem.prompt
        return (f"{first}\n\nYour previous answer:\n```{pack.slug}\n{completion.strip()}\n```\n"
                f"Running it gives:\n```\n{message}\n```\n"
                f"Fix it. Answer with the whole corrected program in one ```{pack.slug} block.")

    def _fit(self, backend, build, max_new_tokens: int, sections: list, shots: list) -> tuple[str, list, list]:
        """The prompt with as much context as fits the model's window beside the answer:
        shots go first, then sections, one at a time from the least relevant."""
        tokenizer = getattr(getattr(backend, "backend", backend), "tokenizer", None)
        window = getattr(getattr(backend, "backend", backend), "max_positions", None)
        while True:
            prompt = build(sections, shots)
            if tokenizer is None or window is None or (not sections and not shots):
                return prompt, sections, shots
            if len(tokenizer(prompt, verbose=False)["input_ids"]) + max_new_tokens <= window:
                return prompt, sections, shots
            if shots:
                shots = shots[:-1]
            else:
                sections = sections[:-1]

    # ------------------------------------------------------------ solving

    def solve_many(self, backend, problems: Sequence[Problem], *, n: int = 1, temperature: float = 0.2,
                   max_new_tokens: int = 256, seed: int | None = 0) -> list[Outcome]:
        """n samples per problem, each with up to `repair_rounds` repairs; outcomes in
        (problem, sample) order."""
        firsts: dict[str, tuple[str, list, list]] = {}
        for problem in problems:
            sections, shots = self.context(problem.prompt)
            firsts[problem.id] = self._fit(backend, lambda s, h, p=problem: self.first_prompt(p, s, h),
                                           max_new_tokens, sections, shots)
        requests = [(problem, firsts[problem.id][0]) for problem in problems]
        generated = self._generate(backend, requests, n=n, temperature=temperature, max_new_tokens=max_new_tokens,
                                   seed=seed)
        outcomes: list[Outcome] = []
        pending: list[tuple[Outcome, str, object]] = []
        for (problem, prompt), completions in zip(requests, generated):
            _, sections, shots = firsts[problem.id]
            for sample, completion in enumerate(completions):
                outcome = Outcome(problem, sample, judgement=None, anchors=tuple(s.anchor for s in sections),  # type: ignore[arg-type]
                                  shots=tuple(s.anchor for s in shots))
                outcomes.append(outcome)
                pending.append((outcome, prompt, completion))
        self._judge_round(pending, 0)

        for number in range(1, self.repair_rounds + 1):
            failing = [o for o in outcomes if not o.judgement.passed and o.problem.kind != "docqa"]
            if not failing:
                break
            requests = []
            for outcome in failing:
                build = (lambda s, h, o=outcome: self.repair_prompt(
                    o.problem, self.first_prompt(o.problem, s, h), o.judgement.completion, o.judgement))
                prompt, _, _ = self._fit(backend, build, max_new_tokens, self._sections_of(outcome),
                                         self._shots_of(outcome))
                requests.append((outcome.problem, prompt))
            generated = self._generate(backend, requests, n=1, temperature=temperature,
                                       max_new_tokens=max_new_tokens, seed=None if seed is None else seed + number)
            self._judge_round([(o, prompt, completions[0]) for o, (_, prompt), completions
                               in zip(failing, requests, generated)], number)
        return outcomes

    # The repair prompt is rebuilt around the same context the first attempt had, shrunk
    # only if the longer prompt no longer fits.
    def _sections_of(self, outcome: Outcome) -> list:
        by_anchor = {s.anchor: s for s in self.sections.sections}
        return [by_anchor[a] for a in outcome.anchors if a in by_anchor]

    def _shots_of(self, outcome: Outcome) -> list:
        if self.shots is None:
            return []
        by_anchor = {s.anchor: s for s in self.shots.sections}
        return [by_anchor[a] for a in outcome.shots if a in by_anchor]

    def _generate(self, backend, requests: list[tuple[Problem, str]], *, n, temperature, max_new_tokens, seed):
        """Completions per request, batched per set of stop tokens, in request order."""
        groups: dict[tuple, list[int]] = {}
        for index, (problem, _) in enumerate(requests):
            groups.setdefault(tuple(problem.stop_tokens), []).append(index)
        out: list = [None] * len(requests)
        for stops, indices in groups.items():
            results = backend.generate([requests[i][1] for i in indices], n=n, temperature=temperature,
                                       max_new_tokens=max_new_tokens, stop=list(stops) or None, seed=seed)
            for i, completions in zip(indices, results):
                out[i] = completions
        return out

    def _judge_round(self, pending: list[tuple[Outcome, str, object]], number: int) -> None:
        attempts = [Attempt(o.problem, c.text, o.sample, getattr(c, "seconds", None), _tokens(c))
                    for o, _, c in pending]
        judged = judge(self.pack, attempts, test_libraries=self.test_libraries, limits=self.limits,
                       pool=self.pool) if attempts else []
        for (outcome, prompt, completion), judgement in zip(pending, judged):
            outcome.rounds.append(Round(number, prompt, judgement.completion, judgement.verdict, judgement.passed,
                                        failure_text(judgement) if not judgement.passed else "",
                                        judgement.seconds, judgement.tokens))
            # The sample costs what all its rounds cost.
            seconds = _sum(r.seconds for r in outcome.rounds)
            tokens = _sum(r.tokens for r in outcome.rounds)
            outcome.judgement = dataclasses.replace(judgement, seconds=seconds, tokens=tokens)

    # ------------------------------------------------------------ the playground

    def answer(self, backend, prompt: str, *, temperature: float = 0.2, max_new_tokens: int = 256,
               seed: int | None = 0) -> Answer:
        """One free-form request: retrieve, generate, run the code (no tests: it must run
        cleanly), repair with the real error, answer with the trace and the anchors."""
        problem = Problem(id="playground", suite="playground", kind="code", prompt=prompt, variant="instruction",
                          language=self.pack.slug, evaluation_only=False, restriction="")
        outcome = self.solve_many(backend, [problem], n=1, temperature=temperature, max_new_tokens=max_new_tokens,
                                  seed=seed)[0]
        final = outcome.judgement
        text = outcome.rounds[-1].completion if outcome.rounds else ""
        cited = tuple(a for a in cited_anchors(text) if a in self.known_anchors)
        return Answer(text=text, code=prepare_completion(problem, text), verdict=final.verdict, passed=final.passed,
                      error_message=final.error_message, rounds=outcome.rounds, anchors=outcome.anchors,
                      cited=cited, shots=outcome.shots)


def _tokens(completion) -> int | None:
    tokens = getattr(completion, "tokens", None)
    if tokens is None or isinstance(tokens, int):
        return tokens
    try:
        return len(tokens)
    except TypeError:
        return None


def _sum(values) -> float | int | None:
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def accepted_shots(language, *, limit: int = MAX_SHOTS_LOADED) -> list[Shot]:
    """The language's accepted samples that pair a task prompt with working code, newest first."""
    from curation.models import ReviewStatus, Sample

    from curation.revisions import accepted_sample_code

    rows = list(Sample.objects.filter(language=language, status=ReviewStatus.ACCEPTED, kind__in=SHOT_KINDS)
                .exclude(prompt="").order_by("-id").values_list("id", "prompt", "code")[:limit])
    return [Shot(f"sample:{pk}", prompt, code) for pk, prompt, code in accepted_sample_code(rows)]
