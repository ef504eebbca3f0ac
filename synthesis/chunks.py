"""What the synthesis task needs around the pure cores: the model backend a job asked
for, accepted code to grow from, and triage of each validated batch."""
from __future__ import annotations


from curation.models import Language, ReviewStatus, Sample

ACCEPTED_SEEDS = 2000  # enough variety for recombination without loading a million rows


def accepted_code(language: Language, limit: int = ACCEPTED_SEEDS) -> list[str]:
    """The newest accepted samples' code (a reviewer's accepted edit where there is one)."""
    from curation.revisions import accepted_sample_code

    rows = list(Sample.objects.filter(language=language, status=ReviewStatus.ACCEPTED)
                .order_by("-id").values_list("id", "code")[:limit])
    return [code for _, code in accepted_sample_code(rows)]


def accepted_tests(language: Language, limit: int = ACCEPTED_SEEDS) -> dict[str, dict]:
    """The tests of the accepted samples accepted_code returns, where they have some: code ->
    {"tests", "entry_point"}, from the sample's metadata (every sample synthesis validated
    against tests carries them), else from its task when that is a train task."""
    from curation.revisions import accepted_sample_code

    rows = list(Sample.objects.filter(language=language, status=ReviewStatus.ACCEPTED).order_by("-id")
                .values_list("id", "metadata__tests", "metadata__entry_point", "task__tests", "task__entry_point",
                             "task__split", "code")[:limit])
    tested: dict[str, dict] = {}
    for _, tests, entry_point, task_tests, task_entry_point, split, code in accepted_sample_code(rows):
        if not (tests and entry_point) and split == "train":
            tests, entry_point = task_tests, task_entry_point
        if tests and isinstance(entry_point, str) and entry_point:
            tested.setdefault(code, {"tests": tests, "entry_point": entry_point})
    return tested


def backend_for(params: dict):
    """The model backend a job names, else the configured teacher endpoint, else None —
    built by training's one factory, which applies the SSRF guard."""
    from training.backend_settings import backend_from_spec

    return backend_from_spec(params.get("backend"))


def shared_backend(backend):
    """`backend`, safe to use from two threads at once — the generator's (generate) and
    triage's (score) — when it runs in this process. Its tokenizer keeps truncation as
    state that each call sets: generate truncates prompts, and a score running meanwhile in
    the other thread read its text truncated too (seen here: a 1,201-token text encoded as
    100 tokens, a wrong score and no error). Two forward passes on two cores would only
    halve each other anyway. A server's backend is returned as it is: its calls wait on
    sockets, and each request carries its own settings."""
    from training.backends import LocalBackend

    return _Serialised(backend) if isinstance(backend, LocalBackend) else backend


class _Serialised:
    """A backend whose generate and score take turns; every other attribute is the backend's
    (so provenance, synthesis.prompts.backend_name, reads the same)."""

    def __init__(self, backend):
        import threading

        self._backend = backend
        self._lock = threading.Lock()

    def generate(self, prompts, **options):
        with self._lock:
            return self._backend.generate(prompts, **options)

    def score(self, texts):
        with self._lock:
            return self._backend.score(texts)

    def __getattr__(self, name):
        return getattr(self._backend, name)


def triage_rules(language: Language, job_rules: dict) -> dict:
    """The rules a job's triage applies: synthesis defaults, the language's, the job's."""
    from synthesis.triage import resolve_rules

    return resolve_rules(merge_rules(SYNTHESIS_RULES, language.spec.get("triage") or {}, job_rules))


NEAR_SEEDS = 20000  # recent items of the language the near-duplicate index starts from
DROPPED = ("exact_duplicates", "near_duplicates")  # not stored at all; counted as duplicates
# What synthesis triage does unless the language or the job says otherwise: augmentations,
# error-fix samples and DPO pairs are variants of one program by design (a renamed copy;
# the same fix for different breakages; one reference against different wrong answers),
# so near-duplicate removal would keep one per program. Exact duplicates still go.
SYNTHESIS_RULES = {"near_duplicates": {"skip_kinds": ["augment", "errfix", "pair"]}}

# Per process, so a worker pays for a signature once, not once per job: MinHash
# signatures of samples by content hash, per language and index settings;
# and built contamination indexes by the digest of their held-out texts.
_signatures: dict[tuple, dict[str, object]] = {}
_contamination: dict[tuple, object] = {}
_CONTAMINATION_CACHE = 8
_FETCH = 2000


def merge_rules(*layers: dict) -> dict:
    """Triage rules, later layers overriding earlier ones setting by setting."""
    merged: dict = {}
    for layer in layers:
        for check, values in (layer or {}).items():
            if isinstance(values, bool):
                values = {"on": values}
            merged[check] = {**merged.get(check, {}), **values}
    return merged


class ChunkTriage:
    """Triage across a job's chunks: the near-duplicate and contamination indexes are built
    once per job and grow with what it keeps. Duplicates are dropped; other rejections are
    stored as auto-rejected with the reason, so a PM can see what the rules caught."""

    def __init__(self, content, rules: dict, kept: list, benchmarks: list[dict], *, signatures=None, scorer=None):
        """kept: triage Items already in the dataset; or `signatures`, a callable that
        takes the index and a set of item kinds and returns [(key, signature)] of the
        dataset's items of those kinds, to seed it with instead.
        scorer: texts -> mean negative log-likelihood per token (a model backend's `score`),
        for the perplexity rule; required when the rules switch it on."""
        from synthesis import triage

        self.triage = triage
        self.pack = content.pack
        self.language_pk = None  # set by for_language; keys the signature cache
        self.rules = triage.resolve_rules(rules)
        if self.rules["perplexity"]["on"] and scorer is None:
            raise ValueError("triage.perplexity is on but no model backend scores the items")
        # None unless the rule is on: then filter() does no per-item work for it.
        self.scorer = scorer if self.rules["perplexity"]["on"] else None
        near = self.rules["near_duplicates"]
        self.near = triage.NearDuplicateIndex(threshold=near["threshold"], num_perm=near["num_perm"],
                                              shingle=near["shingle"], pack=self.pack)
        # Seeding with `signatures` waits for the first item of a kind that is compared for
        # near duplicates, and takes the dataset's items of that kind only: an item is a
        # near duplicate of one of its own kind (a doc-QA answer is never one of a program,
        # a semantic sample not one of an error fix). A job whose kinds all skip the check
        # (augmentations, error fixes, pairs) never fills the index; and no job computes
        # signatures of kinds it is not compared with (~0.6 ms a sample: at 10,000 samples
        # across kinds that was seconds of CPU taken from the sandbox).
        self._seed = None
        self._seeded_kinds: set[str] = set()
        if near["on"]:
            if signatures is not None:
                self._seed = signatures
            else:
                self.near.seed(kept)
        self.contamination = self._contamination_index(content, benchmarks)

    def _contamination_index(self, content, benchmarks):
        import hashlib

        triage = self.triage
        rule = self.rules["decontamination"]
        problems = triage.heldout_problems(content, benchmarks)
        digest = hashlib.sha256()
        for problem in problems:
            digest.update(problem.id.encode() + b"\x00" + "\x1f".join(problem.texts).encode("utf-8", "replace"))
        keep = triage._keep_names(self.pack)
        key = (digest.hexdigest(), rule["n"], rule["min_fraction"], rule["ignore_names"], keep)
        index = _contamination.get(key)
        if index is None:
            if len(_contamination) >= _CONTAMINATION_CACHE:
                _contamination.clear()
            index = _contamination[key] = triage.ContaminationIndex(
                problems, n=rule["n"], min_fraction=rule["min_fraction"], ignore_names=rule["ignore_names"],
                keep_names=keep)
        return index

    @classmethod
    def for_language(cls, language: Language, content, job_rules: dict, *, scorer=None) -> "ChunkTriage":
        from curation.models import Task

        rules = triage_rules(language, job_rules)
        benchmarks = [{"id": f"{t.source}:{t.name}", "prompt": t.prompt, "solution": t.reference}
                      for t in Task.objects.filter(language=language).exclude(source="pack")]
        recent = _recent(language)  # which samples seed the index is fixed now, as if it were filled now
        triage = cls(content, rules, [], benchmarks, scorer=scorer,
                     signatures=lambda index, kinds: _recent_signatures(
                         language, index, [(pk, h) for pk, h, kind in recent if kind in kinds]))
        triage.language_pk = language.pk
        return triage

    def filter(self, items: list) -> tuple[list, dict]:
        """Validated items in; the ones to store out (with status and reason set), and counts."""
        from synthesis.triage import Item

        triage_items = []
        for index, v in enumerate(items):
            if v.kind == "docqa":
                triage_items.append(Item(id=str(index), prompt=f"{v.candidate.question}\n{v.candidate.answer}",
                                         kind="docqa"))
            elif v.kind == "pair":
                # A pair is its two programs: one reference solution makes many pairs.
                triage_items.append(Item(id=str(index), prompt=v.prompt, code=f"{v.code}\n{v.rejected_code}",
                                         kind="pair"))
            else:
                triage_items.append(Item(id=str(index), prompt=v.prompt, code=v.code, kind=v.sample_kind))
        if self._seed is not None:
            skip = self.rules["near_duplicates"]["skip_kinds"]
            kinds = {i.kind for i in triage_items if i.kind not in skip} - self._seeded_kinds
            if kinds:
                self._seeded_kinds |= kinds
                for key, signature in self._seed(self.near, kinds):
                    self.near.add(key, "", signature)
        indexed = len(self.near)
        decisions = self.triage.triage(triage_items, self.rules, pack=self.pack, heldout=self.contamination,
                                       near_index=self.near, perplexity=self.scorer)
        if self.scorer is not None:
            for v, d in zip(items, decisions):
                if "perplexity" in d.scores:
                    _record_perplexity(v, d.scores["perplexity"])
        kept, counts = [], {"duplicates": 0, "auto_rejected": 0}
        for v, d in zip(items, decisions):
            if v.kind == "sample" and d.content_hash:
                v.content_hash = d.content_hash  # triage's key is the store's (store.item_hash)
            if d.action == "reject" and d.reason in DROPPED:
                counts["duplicates"] += 1
                continue
            if d.action == "reject":
                v.status, counts["auto_rejected"] = "auto_rejected", counts["auto_rejected"] + 1
                # per reason too, so the report can say what the rules caught
                key = f"auto_rejected_{d.reason}"
                counts[key] = counts.get(key, 0) + 1
            if d.reason:
                v.triage_reason = (f"{d.reason}: {d.detail}" + (f" ({d.matched})" if d.matched else ""))[:200]
            kept.append(v)
        self._remember_signatures(items, indexed)
        return kept, counts

    def _remember_signatures(self, items: list, indexed: int) -> None:
        """The signatures triage just computed for this chunk's samples, by the content hash
        they will be stored under, so the next job of their kind need not compute them again."""
        from synthesis.store import item_hash

        if self.language_pk is None or not self.rules["near_duplicates"]["on"]:
            return
        cache = _signatures.setdefault(_signature_key(self.language_pk, self.near), {})
        for serial in range(indexed, len(self.near)):
            if len(cache) >= 2 * NEAR_SEEDS:  # a long job: the next one re-reads the rest
                return
            v = items[int(self.near._ids[serial])]
            if v.kind == "sample":
                v.content_hash = v.content_hash or item_hash(self.pack, v.prompt, v.code)
                cache[v.content_hash] = self.near._signatures[serial]


def _record_perplexity(v, nll: float) -> None:
    """The item's score, as stored: metadata gets the mean negative log-likelihood per token
    (the scale of triage.perplexity.max) and the perplexity, exp() of it; a sample's
    `quality` is the perplexity — higher is worse, as self-training stores it, so the review
    queue's "highest uncertainty / perplexity first" (SCORE_HIGH, quality DESC) shows the
    text the model found least likely first. A text the model could not score (no tokens)
    keeps quality unset, and stays out of those two orders."""
    import math

    if not math.isfinite(nll):
        return
    perplexity = math.exp(min(nll, 700.0))  # exp(710) overflows a float
    v.metadata = {**v.metadata, "nll_per_token": round(nll, 4), "perplexity": round(perplexity, 3)}
    if v.kind == "sample":
        v.quality = perplexity


def _signature_key(language_pk, index) -> tuple:
    return (language_pk, getattr(index.pack, "line_comment", ""), index.num_perm, index.shingle, index.keep)


def _recent(language: Language) -> list[tuple[int, str, str]]:
    """(id, content hash, kind) of the language's NEAR_SEEDS most recent samples, newest first."""
    return list(Sample.objects.filter(language=language).order_by("-id")
                .values_list("id", "content_hash", "kind")[:NEAR_SEEDS])


def _recent_signatures(language: Language, index, recent: list[tuple[int, str]]) -> list[tuple[str, object]]:
    """Signatures of the `recent` samples, oldest first; only the samples this process has
    not seen (or triaged) yet are read and hashed. A signature is a function of the
    normalised code, which the content hash covers."""
    key = _signature_key(language.pk, index)
    known = _signatures.get(key, {})
    missing = [pk for pk, h in recent if h not in known]
    fresh = {}
    for start in range(0, len(missing), _FETCH):
        for h, prompt, code in Sample.objects.filter(id__in=missing[start:start + _FETCH]).values_list(
                "content_hash", "prompt", "code"):
            fresh[h] = _signature_of(index, prompt, code)
    signatures = {h: known.get(h) or fresh.get(h) for _, h in recent}
    cache = _signatures.setdefault(key, {})
    if len(cache) + len(fresh) > 2 * NEAR_SEEDS:
        cache.clear()  # what is still recent is read again, kind by kind, as jobs need it
    cache.update((h, v) for h, v in signatures.items() if v is not None)
    return [(f"sample:{pk}", signatures[h]) for pk, h in reversed(recent) if signatures[h] is not None]


def _signature_of(index, prompt: str, code: str):
    """The near-duplicate signature of a sample, as triage computes it for a new item."""
    from synthesis.triage import Item, _near_text, normalise

    return index.signature(_near_text(Item(id="", prompt=prompt, code=code), normalise(code, index.pack)),
                           normalised=True)
