"""Triage: what may reach a reviewer. Pure — values in, decisions out, no database.

Per item, cheapest check first: length, secrets, parse errors (optional), exact duplicate,
decontamination against held-out problems, near duplicate (MinHash + LSH), then an
optional perplexity hook over the survivors in one batch. Each check is switched on and
given its action ("reject" or "review") by per-language `rules`; see DEFAULT_RULES.

Streaming: items are judged in order, and an item that is kept or sent to review becomes
part of the dedup indexes, so the second of two copies is the one rejected. Indexes can be
seeded with items kept earlier (`kept=`), so a new batch is compared with the dataset too.
An item that the perplexity hook later rejects has already entered the indexes; a copy of
it would most likely score the same, so this costs little and saves a second pass.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Sequence

from curation.contamination import ContaminationIndex, HeldOutProblem, heldout_problems  # noqa: F401 (re-exported)
from curation.packs import TRIAGE_DEFAULTS, check_triage_rules

# ---------------------------------------------------------------- items and decisions

KEEP, REJECT, REVIEW = "keep", "reject", "review"


@dataclass(frozen=True)
class Item:
    """What triage looks at. `code` is the program; for a doc-QA item leave it empty and put
    question and answer in `prompt` (its example block is shared with sibling questions, so
    comparing it would make them duplicates). `kind` is free text for the caller's reports."""
    id: str
    code: str = ""
    prompt: str = ""
    kind: str = ""


@dataclass(frozen=True)
class Decision:
    item_id: str
    action: str  # keep | reject | review
    reason: str = ""  # "" when kept; else the check's name, e.g. "near_duplicate"
    detail: str = ""
    matched: str | None = None  # the kept item or held-out problem this one collides with
    scores: dict = field(default_factory=dict)
    # The exact-duplicate key (prompt + normalised code) when that check ran: the caller
    # stores it, and computing it again would normalise every program twice.
    content_hash: str = ""

    @property
    def keep(self) -> bool:
        return self.action == KEEP


# The checks, their settings and defaults live with the pack reader, which checks a pack's
# [triage] table against them (imports point synthesis -> curation).
DEFAULT_RULES: dict = TRIAGE_DEFAULTS


def resolve_rules(rules: dict | None) -> dict:
    """DEFAULT_RULES overlaid with a language's rules. A misspelt check or setting, or a
    value of the wrong type, is an error (ValueError) rather than a silently ignored rule."""
    resolved = copy.deepcopy(DEFAULT_RULES)
    for check, settings in check_triage_rules(rules or {}).items():
        resolved[check].update(settings)
    return resolved


# ---------------------------------------------------------------- exact duplicates

def _pack_of(pack):
    return getattr(pack, "pack", pack)  # a PackContent or a Pack


@lru_cache(maxsize=32)
def _normaliser(line_comment: str) -> re.Pattern:
    comment = rf"|(?P<comment>{re.escape(line_comment)}[^\n]*)" if line_comment else ""
    # Strings first, so a comment marker inside a string literal is left alone.
    # A single space needs no rewriting; matching only runs and odd whitespace keeps the
    # callbacks few (this is the hot loop of triage).
    return re.compile(r"(?P<string>\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*')" + comment
                      + r"|(?P<space>[ \t\r\f\v]{2,}|[\t\r\f\v])")


def normalise(code: str, pack=None) -> str:
    """Code with line comments (the pack's `line_comment`) removed and whitespace outside
    string literals collapsed; blank lines dropped. Two programs that differ only in
    comments, indentation or spacing normalise to the same text."""
    return _normalised(code, getattr(_pack_of(pack), "line_comment", "") or "")


# A synthesis job normalises a program in triage, and again when it keys a pair or doc-QA
# item for storing and when it remembers a signature: ~0.1 ms a program each time, and a
# pure function of these two strings.
@lru_cache(maxsize=1024)
def _normalised(code: str, line_comment: str) -> str:
    pattern = _normaliser(line_comment)

    def replace(match: re.Match) -> str:
        if match.group("string") is not None:
            return match.group("string")
        return " " if match.group("space") is not None else ""

    lines = (line.strip() for line in pattern.sub(replace, code).split("\n"))
    return "\n".join(line for line in lines if line)


def content_hash(prompt: str, code: str) -> str:
    """Identity of an item for exact-duplicate removal: prompt whitespace does not count."""
    digest = hashlib.sha256()
    digest.update(" ".join(prompt.split()).encode("utf-8"))
    digest.update(b"\x00")
    digest.update(code.encode("utf-8"))
    return digest.hexdigest()


# ---------------------------------------------------------------- tokens

TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|[^\w\s]")


def canonical_tokens(text: str, keep: frozenset[str] = frozenset()) -> list[str]:
    """Tokens with every name the language does not reserve renamed by first appearance
    (`total`, `xs` -> `v0`, `v1`), so a copy with its variables renamed reads the same.
    Names after `.` or `:` (fields, library functions) are kept: they carry meaning."""
    names: dict[str, str] = {}
    out: list[str] = []
    previous = ""
    for token in TOKEN.findall(text):
        first = token[0]
        if (first.isalpha() or first == "_") and token not in keep and previous not in (".", ":"):
            renamed = names.get(token)
            if renamed is None:
                renamed = names[token] = f"v{len(names)}"
            token = renamed
        out.append(token)
        previous = token
    return out


def _keep_names(pack) -> frozenset[str]:
    pack = _pack_of(pack)
    return frozenset(getattr(pack, "keywords", ()) or ()) | frozenset(getattr(pack, "builtins", ()) or ())


# ---------------------------------------------------------------- near duplicates

class NearDuplicateIndex:
    """MinHash over token shingles + LSH, answering "is this a near duplicate of something
    kept?" one item at a time. Jaccard is estimated on canonical tokens (names renamed by
    first appearance), so renaming variables does not make a copy new."""

    def __init__(self, *, threshold: float = 0.85, num_perm: int = 128, shingle: int = 5,
                 keep_names: Iterable[str] = (), pack=None):
        from datasketch import MinHash, MinHashLSH

        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self.pack = pack
        self.keep = frozenset(keep_names) | _keep_names(pack)
        self._MinHash = MinHash
        # One set of permutations for every MinHash: generating them is most of the cost
        # of constructing one. crc32 (not Python's hash) keeps results the same across runs.
        self._template = _minhash_template(num_perm)
        # The band layout datasketch derives by numerical integration (~50 ms) depends only
        # on these two numbers: derived once per process, not once per index.
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=_lsh_params(threshold, num_perm))
        # LSH keys are our own serial numbers: callers' ids need not be unique across
        # batches (a chunk's items are often numbered from 0), and a reused id must never
        # make an item silently drop out of the index.
        self._signatures: list = []
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._signatures)

    def _shingles(self, text: str, normalised: bool) -> set[bytes]:
        tokens = canonical_tokens(text if normalised else normalise(text, self.pack), self.keep)
        k = self.shingle
        if len(tokens) <= k:
            return {" ".join(tokens).encode("utf-8")}
        # The windows " ".join(tokens[i:i + k]) for every i, built by C loops (zip, map).
        return set(map(str.encode, map(" ".join, zip(*(tokens[j:] for j in range(k))))))

    def signature(self, text: str, *, normalised: bool = False):
        minhash = self._MinHash(num_perm=self.num_perm, seed=1, hashfunc=zlib.crc32,
                                permutations=self._template.permutations, scheme=self._template.scheme)
        minhash.update_batch(self._shingles(text, normalised))
        return minhash

    def query(self, text: str, signature=None) -> tuple[str, float] | None:
        """The most similar kept item at or above the threshold, with its estimated Jaccard."""
        signature = signature if signature is not None else self.signature(text)
        best = None
        for serial in self._lsh.query(signature):
            similarity = signature.jaccard(self._signatures[serial])
            # the earliest kept item wins a tie, so the answer does not depend on set order
            if similarity >= self.threshold and (best is None or (similarity, -serial) > (best[1], -best[0])):
                best = (serial, similarity)
        return None if best is None else (self._ids[best[0]], best[1])

    def add(self, key: str, text: str, signature=None) -> None:
        signature = signature if signature is not None else self.signature(text)
        self._lsh.insert(len(self._signatures), signature)
        self._signatures.append(signature)
        self._ids.append(key)

    def check_and_add(self, key: str, text: str) -> tuple[str, float] | None:
        """None (and the text is now indexed) when new; else the item it duplicates."""
        signature = self.signature(text)
        found = self.query(text, signature)
        if found is None:
            self.add(key, text, signature)
        return found

    def seed(self, items: Iterable[Item]) -> "NearDuplicateIndex":
        for item in items:
            text = _near_text(item, normalise(item.code, self.pack))
            self.add(item.id, text, self.signature(text, normalised=True))
        return self


@lru_cache(maxsize=8)
def _minhash_template(num_perm: int):
    from datasketch import MinHash

    # Only its permutations are used (read-only), so indexes can share one.
    return MinHash(num_perm=num_perm, seed=1, hashfunc=zlib.crc32)


@lru_cache(maxsize=32)
def _lsh_params(threshold: float, num_perm: int) -> tuple[int, int] | None:
    try:
        from datasketch.lsh import _optimal_param  # private: if it moves, datasketch derives them
    except ImportError:
        return None
    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def _near_text(item: Item, normalised_code: str) -> str:
    """What near-duplicate detection compares: the code, or for an item without code (a
    doc-QA answer) its prompt text, whose line-comment markers are prose, not comments."""
    return normalised_code if normalised_code else normalise(item.prompt, None)


def _dedup_text(item: Item) -> str:
    return item.code if item.code.strip() else item.prompt


# ---------------------------------------------------------------- quality filters

SECRET_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((name, re.compile(pattern)) for name, pattern in (
    ("private_key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    ("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    ("aws_secret_key", r"(?i)aws.{0,20}?(?:secret|private).{0,20}?[=:>]\s*[\"']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("api_key", r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_\-]{35}|[rs]k_live_[0-9A-Za-z]{16,})"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("url_credentials", r"\b[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^/\s:@\"']+@[^\s\"']+"),
    ("password_assignment",
     # the word starts a name, follows an underscore, or starts a camelCase part
     r"(?:\b|_|(?<=[a-z])(?=[A-Z]))(?i:pass(?:word|wd|phrase)?|pwd|secret|api_?key|access_?key|auth_?token|"
     r"access_?token)\w*[\"'\]]{0,2}\s*(?:=|:|:=|=>|<-)\s*(?P<quote>[\"'])(?P<value>[^\"'\s]{6,})(?P=quote)"),
))
PLACEHOLDER = re.compile(r"(?i)^(?:x+|\*+|\.+|<[^>]*>|\$\{?\w+\}?|%\w|\{\w*\}|your[_-]?\w*|changeme|"
                         r"example\w*|dummy\w*|placeholder|redacted|secret|password|test\w*|none|null|nil|undefined)$")
# Per pattern, substrings one of which it needs to match: one lower-cased copy and a few
# `in` tests are much cheaper than running the patterns (or one big alternation) per item,
# and code mentions "key" or "token" often enough that running all of them on a hint
# would cost more than the rest of triage.
SECRET_HINTS: dict[str, tuple[str, ...]] = {
    "private_key": ("begin",),
    "aws_access_key": ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
    "aws_secret_key": ("aws",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),  # the pattern is case-sensitive
    "slack_token": ("xox",),
    "api_key": ("sk-", "aiza", "_live_"),
    "jwt": ("eyj",),
    "url_credentials": ("://",),
    "password_assignment": ("pass", "pwd", "secret", "key", "token"),
}
CANDIDATE_TOKEN = re.compile(r"[A-Za-z0-9+/_\-=]{16,}")
HEX = re.compile(r"[0-9a-fA-F]+")


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def find_secret(text: str, *, entropy: float = 4.0, min_token: int = 24) -> tuple[str, str] | None:
    """(kind, a redacted excerpt) of the first thing that looks like a credential, or None.

    High-entropy tokens count only when they mix letters and digits (identifiers and words
    do not) and are long enough that chance is unlikely; hex needs 32+ characters, since
    its alphabet caps the entropy at 4 bits per character."""
    lowered = text.lower()
    for kind, pattern in SECRET_PATTERNS:
        if not any(h in lowered for h in SECRET_HINTS[kind]):
            continue
        for match in pattern.finditer(text):
            if kind == "password_assignment" and PLACEHOLDER.match(match.group("value")):
                continue
            return kind, _redact(match.group(0))
    for match in CANDIDATE_TOKEN.finditer(text):
        token = match.group(0).strip("=-_")
        if not (any(c.isdigit() for c in token) and any(c.isalpha() for c in token)):
            continue
        if HEX.fullmatch(token):
            if len(token) >= 32 and shannon_entropy(token) >= 3.0:
                return "high_entropy_hex", _redact(token)
        elif len(token) >= min_token and _class_changes(token) >= 0.45 and shannon_entropy(token) >= entropy:
            return "high_entropy_token", _redact(token)
    return None


def _class_changes(token: str) -> float:
    """How often the character class (lower, upper, digit, other) changes between neighbours:
    about 0.6 in a random key, about 0.3 in `snake_case_name_2` or `camelCaseName`."""
    def kind(c: str) -> int:
        return 0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3
    kinds = [kind(c) for c in token]
    return sum(a != b for a, b in zip(kinds, kinds[1:])) / max(1, len(kinds) - 1)


def _redact(secret: str) -> str:
    # A reviewer sees what kind of thing was found, never the secret itself.
    return secret[:4] + "…" if len(secret) > 8 else "…"


def length_problem(item: Item, rule: dict) -> str | None:
    text = item.code if item.code.strip() else item.prompt
    lines = text.count("\n") + (0 if text.endswith("\n") else 1) if text else 0
    chars = len(text)
    if chars < rule["min_chars"] or lines < rule["min_lines"]:
        return f"too short: {lines} line(s), {chars} chars"
    if rule["max_chars"] and chars > rule["max_chars"] or rule["max_lines"] and lines > rule["max_lines"]:
        return f"too long: {lines} line(s), {chars} chars"
    return None


# ---------------------------------------------------------------- triage

def triage(items: Sequence[Item | dict], rules: dict | None = None, *, pack=None,
           heldout: Iterable[HeldOutProblem] | ContaminationIndex = (), kept: Iterable[Item | dict] = (),
           near_index: NearDuplicateIndex | None = None,
           perplexity: Callable[[list[str]], list[float]] | None = None) -> list[Decision]:
    """One Decision per item, in order.

    rules: per-language overrides of DEFAULT_RULES, e.g. {"near_duplicates": {"threshold":
        0.9}, "perplexity": {"on": True, "max": 40.0, "action": "review"}}.
    pack: the language pack (line comment, keywords; grammar for the parse check).
    heldout: problems no item may overlap (see heldout_problems), or a built index.
    kept: items already in the dataset; a new item that duplicates one is rejected.
    near_index: a NearDuplicateIndex to continue (it is updated); else one is built.
    perplexity: a batch scorer, texts -> scores, higher is worse — e.g. a backend's `score`
        (mean negative log-likelihood per token; exp() of it is the perplexity), with
        `perplexity.max` on the same scale.
    """
    rules = resolve_rules(rules)
    items = [_as_item(i) for i in items]
    kept_items = [_as_item(i) for i in kept]

    exact = {content_hash(i.prompt, normalise(i.code, pack)): i.id for i in kept_items} \
        if rules["exact_duplicates"]["on"] else {}
    near = None
    if rules["near_duplicates"]["on"]:
        near_rule = rules["near_duplicates"]
        # `is None`, not `or`: an empty index is falsy but is still the caller's to grow.
        near = near_index if near_index is not None else NearDuplicateIndex(
            threshold=near_rule["threshold"], num_perm=near_rule["num_perm"], shingle=near_rule["shingle"], pack=pack)
        near.seed(kept_items)
    contamination = None
    if rules["decontamination"]["on"]:
        if isinstance(heldout, ContaminationIndex):
            contamination = heldout
        else:
            rule = rules["decontamination"]
            contamination = ContaminationIndex(heldout, n=rule["n"], min_fraction=rule["min_fraction"],
                                               ignore_names=rule["ignore_names"], keep_names=_keep_names(pack))
    grammar = getattr(_pack_of(pack), "grammar", None) if rules["parse"]["on"] else None

    decisions: list[Decision] = []
    for item in items:
        decision = _judge(item, rules, pack, exact, near, contamination, grammar)
        decisions.append(decision)

    if rules["perplexity"]["on"] and perplexity is not None:
        decisions = _apply_perplexity(items, decisions, rules["perplexity"], perplexity)
    return decisions


def _judge(item: Item, rules: dict, pack, exact: dict, near, contamination, grammar) -> Decision:
    def fail(check: str, detail: str = "", matched: str | None = None, scores: dict | None = None) -> Decision:
        return Decision(item.id, rules[check]["action"], check, detail, matched, scores or {}, key or "")

    review: Decision | None = None  # a "review" verdict does not stop the stricter checks
    key = None

    if rules["length"]["on"]:
        problem = length_problem(item, rules["length"])
        if problem:
            decision = fail("length", problem)
            if decision.action == REJECT:
                return decision
            review = review or decision
    if rules["secrets"]["on"]:
        rule = rules["secrets"]
        found = find_secret(item.prompt + "\n" + item.code, entropy=rule["entropy"], min_token=rule["min_token"])
        if found:
            decision = fail("secrets", f"{found[0]}: {found[1]}")
            if decision.action == REJECT:
                return decision
            review = review or decision
    if grammar and item.code.strip():
        from curation.grammar import GrammarUnavailable, syntax_problems

        try:
            problems = syntax_problems(item.code, grammar, limit=1)
        except GrammarUnavailable:
            problems = []
        if problems:
            p = problems[0]
            decision = fail("parse", f"line {p.line}, column {p.column}: {p.kind} {p.text!r}")
            if decision.action == REJECT:
                return decision
            review = review or decision
    code = normalise(item.code, pack)
    if rules["exact_duplicates"]["on"]:
        key = content_hash(item.prompt, code)
        if key in exact:
            decision = fail("exact_duplicates", "same prompt and code after normalising", exact[key])
            if decision.action == REJECT:
                return decision
            review = review or decision
    if contamination is not None:
        found = contamination.match(item.prompt + "\n" + item.code)
        if found:
            decision = fail("decontamination", f"{found[1]:.0%} of a held-out text's n-grams", found[0],
                            {"overlap": round(found[1], 3)})
            if decision.action == REJECT:
                return decision
            review = review or decision
    if near is not None and item.kind not in rules["near_duplicates"]["skip_kinds"]:
        text = _near_text(item, code)
        signature = near.signature(text, normalised=True)
        found = near.query(text, signature)
        if found:
            decision = fail("near_duplicates", f"estimated Jaccard {found[1]:.2f}", found[0],
                            {"jaccard": round(found[1], 3)})
            if decision.action == REJECT:
                return decision
            review = review or decision
        near.add(item.id, text, signature)
    if key is not None:
        exact.setdefault(key, item.id)
    if review is not None:
        return dataclasses.replace(review, content_hash=key or "")
    return Decision(item.id, KEEP, content_hash=key or "")


def _apply_perplexity(items, decisions, rule, perplexity) -> list[Decision]:
    alive = [i for i, d in enumerate(decisions) if d.action != REJECT]
    if not alive:
        return decisions
    scores = perplexity([_dedup_text(items[i]) for i in alive])
    if len(scores) != len(alive):
        raise ValueError(f"the perplexity hook returned {len(scores)} scores for {len(alive)} texts")
    out = list(decisions)
    for i, score in zip(alive, scores):
        d = out[i]
        merged = {**d.scores, "perplexity": float(score)}
        if rule["max"] is not None and score > rule["max"] and d.action == KEEP:
            out[i] = Decision(d.item_id, rule["action"], "perplexity", f"{score:.2f} > {rule['max']}", None, merged,
                              d.content_hash)
        else:
            out[i] = dataclasses.replace(d, scores=merged)
    return out


def _as_item(value: Item | dict) -> Item:
    if isinstance(value, Item):
        return value
    return Item(id=str(value["id"]), code=value.get("code") or "", prompt=value.get("prompt") or "",
                kind=value.get("kind") or "")
