"""Training writes: the tiny base, starting and resuming training jobs, self-training rounds."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import transaction

from curation.jobs import create_job, enqueue
from curation.models import Dataset, Job, Language
from training.config import BaseModelError, ConfigError, TrainingConfig, check_base_model
from training.models import Checkpoint

# Which export shape each method trains on (curation.datasets).
SHAPES = {"cpt": "cpt", "sft": "sft", "dpo": "dpo", "grpo": "grpo"}
CODE_BLOCK = re.compile(r"```[\w-]*\n(.*?)```", re.S)


def models_dir() -> Path:
    return settings.DATA_DIR / "models"


def tiny_base_corpus(language: Language) -> list[str]:
    """The pack's own code and prose plus accepted samples: what the tokenizer learns from."""
    from curation.models import ReviewStatus, Sample

    texts = [e.code for e in language.examples.all()]
    texts += [t.reference for t in language.tasks.filter(source="pack", split="train")]
    for section in language.sections.all():
        texts.append(f"{section.title}\n{section.body}")
        texts += CODE_BLOCK.findall(section.body)
    from curation.revisions import accepted_sample_code

    rows = list(Sample.objects.filter(language=language, status=ReviewStatus.ACCEPTED).values_list("id", "code")[:5000])
    texts += [code for _, code in accepted_sample_code(rows)]
    return [t for t in texts if t.strip()]


def do_build_tiny_base(language: Language, *, seed: int = 0) -> Checkpoint:
    """Build (once) the default tiny base for a language: a BPE tokenizer trained on the
    pack's corpus with its keywords and operators as whole tokens, and a small Llama
    network. Returns its registered Checkpoint; a second call returns the same one."""
    from training.tiny_base import build_tiny_base

    folder = models_dir() / f"{language.slug}-tiny-base"
    existing = Checkpoint.objects.filter(path=str(folder)).first()
    if existing and (folder / "config.json").is_file():
        return existing
    keep = list(language.spec.get("keywords", [])) + list(language.spec.get("operators", []))
    build_tiny_base(tiny_base_corpus(language), folder, keep_whole=keep, seed=seed)
    checkpoint, _ = Checkpoint.objects.update_or_create(
        path=str(folder),
        defaults=dict(language=language, name=f"{language.slug}-tiny-base", method="base", base_model=str(folder),
                      adapter="", config={"builder": "tiny_base", "seed": seed, "keep_whole": len(keep)}))
    return checkpoint


def resolve_base(language: Language, base: str | int | None) -> tuple[str, Checkpoint | None]:
    """A base is "tiny" (built on demand), a Checkpoint id, or a local model folder
    (BASE_MODEL by default). Returns (folder, checkpoint or None)."""
    if base in (None, "", "default"):
        base = settings.BASE_MODEL or "tiny"
    if base == "tiny":
        checkpoint = do_build_tiny_base(language)
        return checkpoint.path, checkpoint
    if isinstance(base, int) or str(base).isdigit():
        checkpoint = Checkpoint.objects.filter(pk=int(base), language=language).first()
        if checkpoint is None:
            raise ValueError(f"no checkpoint #{base} for {language.name}")
        return str(merged_model(checkpoint)), checkpoint
    return str(check_base_model(base)), None


def merged_model(checkpoint: Checkpoint) -> Path:
    """A checkpoint as a full model folder: LoRA adapters are merged into their base once
    (kept beside the models), so the next stage — SFT after CPT — can start from it."""
    from training.checkpoints import is_adapter, merge_or_load

    if not is_adapter(checkpoint.path):
        return Path(checkpoint.path)
    folder = models_dir() / f"merged-checkpoint-{checkpoint.pk}"
    if not (folder / "config.json").is_file():
        model, tokenizer = merge_or_load(checkpoint.path)
        partial = folder.with_name(folder.name + ".partial")
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(folder)
    return folder


def dataset_rows(dataset: Dataset, method: str, split: str = "train") -> list[dict]:
    import json

    path = dataset.card.get("exports", {}).get(f"{SHAPES[method]}/{split}.jsonl")
    if not path or not Path(path).is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def do_start_training(language: Language, *, method: str, dataset: Dataset, base: str | int | None = None,
                      config: dict | None = None, by=None, send: bool = True, resume_from: str | None = None,
                      output_dir: str | None = None) -> Job:
    """Queue a training job on the `training` queue.

    Preconditions, all checked before anything is queued (ConfigError / ValueError with
    the field): the method is cpt, sft, dpo or grpo; the dataset belongs to the language
    and has rows of the method's shape; the base is a model folder; the config has no
    unknown keys and no impossible values.
    """
    if method not in SHAPES:
        raise ConfigError({"method": f"must be one of {', '.join(SHAPES)}"})
    if dataset.language_id != language.pk:
        raise ValueError(f"dataset {dataset} is not a {language.name} dataset")
    rows = dataset.card.get("rows", {}).get(SHAPES[method], {}).get("train", 0)
    if not rows:
        raise ConfigError({"dataset": f"{dataset} has no {SHAPES[method]} rows to train {method} on"})
    try:
        base_path, base_checkpoint = resolve_base(language, base)
    except BaseModelError as exc:
        raise ConfigError({"base_model": str(exc)}) from None
    values = {**(config or {}), "method": method, "base_model": base_path,
              "output_dir": output_dir or "<set when the job starts>"}
    TrainingConfig.from_mapping(values)  # raises ConfigError naming every bad field
    with transaction.atomic():
        job = create_job(Job.Kind.TRAINING, language=language, created_by=by, params={
            "method": method, "dataset_id": dataset.pk, "base_checkpoint_id": base_checkpoint.pk if base_checkpoint else None,
            "config": {k: v for k, v in values.items() if k != "output_dir"}, "resume_from": resume_from,
            "output_dir": output_dir})
        if not output_dir:
            job.params["output_dir"] = str(settings.DATA_DIR / "checkpoints" / f"job-{job.pk}")
            job.save(update_fields=["params"])
        if send:
            from training.tasks import train_model

            enqueue(job, train_model, queue="training")
    return job


def do_resume_training(job: Job, *, by=None, send: bool = True) -> Job:
    """A stopped or failed training job continues from its last checkpoint, as a new job
    writing into the same folder."""
    from training.checkpoints import last_checkpoint

    if job.kind != Job.Kind.TRAINING or job.status not in (Job.Status.CANCELLED, Job.Status.FAILED):
        raise ValueError("only a cancelled or failed training job can be resumed")
    checkpoint = last_checkpoint(job.params["output_dir"])
    if checkpoint is None:
        raise ValueError("this job saved no checkpoint to resume from; start it again instead")
    params = job.params
    dataset = Dataset.objects.get(pk=params["dataset_id"])
    return do_start_training(job.language, method=params["method"], dataset=dataset,
                             base=params["base_checkpoint_id"] or params["config"]["base_model"],
                             config={k: v for k, v in params["config"].items() if k not in ("method", "base_model")},
                             by=by, send=send, resume_from=str(checkpoint), output_dir=params["output_dir"])


# ---------------------------------------------------------------- self-training

# The closest existing sample kind: a self-training program is written by the model being
# trained, like a self-instruct one, and reviewers already judge model-written solutions in
# that queue. "transpile" would promise a Python original the review page cannot show, and
# its default mix weight (2.0) would double the model's own output in every dataset. The
# generator ("self_train.round<N>") tells the two apart.
SELF_TRAIN_KIND = "self_instruct"
ACCEPT_RULES = ("auto", "review")
SELF_TRAIN_DEFAULTS = {
    "start": "tiny", "dataset": "self-train", "rounds": 2, "k": 4, "temperature": 0.8, "max_new_tokens": 256,
    "method": "sft", "accept_rule": "auto", "reverse": False, "reverse_limit": 64, "reverse_steps": None,
    "tasks_limit": None, "seed": 0, "mix": None, "train_from": "start", "dev_percent": 5.0,
}
PERPLEXITY_DEFAULTS = {"on": False, "max": None, "quantile": 0.9, "keep_high_share": 0.1}
STOP_DEFAULTS = {"target": None, "min_gain": None, "patience": 1, "metric": "pass_rate"}


def do_start_self_training(language: Language, *, start: str | int = "tiny", dataset: str = "self-train",
                           rounds: int = 2, k: int = 4, temperature: float = 0.8, max_new_tokens: int = 256,
                           method: str = "sft", config: dict | None = None, accept_rule: str = "auto",
                           perplexity: dict | None = None, reverse: bool = False, reverse_limit: int = 64,
                           reverse_steps: int | None = None, stop: dict | None = None,
                           tasks: list[str] | None = None, tasks_limit: int | None = None, seed: int = 0,
                           mix: dict | None = None, train_from: str = "start", dev_percent: float = 5.0,
                           by=None, send: bool = True) -> Job:
    """Queue a self-training job (Job kind self_training) on the `training` queue.

    Each round the current checkpoint samples `k` programs per train task of the pack, the
    sandbox runs them against the task's tests, passing ones become `self_instruct` samples
    (accepted when accept_rule is "auto", pending review when "review"), passing-vs-failing
    pairs become preference pairs, the round's pass rate is recorded, a new version of
    dataset `dataset` is frozen with the mix reweighted by pass rate, and the next
    checkpoint is trained on it (from the start checkpoint when train_from is "start", from
    the previous round's when "previous"). See training.self_training for the rules.

    Preconditions, checked before anything is queued (ConfigError naming the field): the
    language has train tasks, and `tasks`, when given, names only train tasks; the start is
    "tiny", one of the language's checkpoints or a model folder; 1 <= rounds <= 50,
    1 <= k <= 64, temperature >= 0, max_new_tokens >= 1; method is sft; accept_rule is auto
    or review; the training config has no unknown keys or impossible values; perplexity and
    stop settings are known and in range.
    """
    from training.self_training import StopRule

    errors: dict[str, str] = {}
    train_tasks = set(language.tasks.filter(source="pack", split="train").values_list("name", flat=True))
    if not train_tasks:
        errors["language"] = f"{language.name} has no train tasks to self-train on"
    unknown_tasks = sorted(set(tasks or []) - train_tasks)
    if unknown_tasks:
        # Sampling a dev or test task would leak its solution into training.
        errors["tasks"] = f"not train tasks of {language.name}: {', '.join(unknown_tasks)}"
    start_value: str | int = start
    if start in (None, "", "tiny"):
        start_value = "tiny"
    elif isinstance(start, int) or str(start).isdigit():
        start_value = int(start)
        if not Checkpoint.objects.filter(pk=start_value, language=language).exists():
            errors["start"] = f"no checkpoint #{start} for {language.name}"
    else:
        try:
            start_value = str(check_base_model(start))
        except BaseModelError as exc:
            errors["start"] = str(exc)
    checks = [("rounds", rounds, 1, 50), ("k", k, 1, 64), ("max_new_tokens", max_new_tokens, 1, 4096),
              ("reverse_limit", reverse_limit, 1, 100000)]
    if tasks_limit is not None:
        checks.append(("tasks_limit", tasks_limit, 1, 100000))
    if reverse_steps is not None:
        checks.append(("reverse_steps", reverse_steps, 1, 100000))
    for name, value, low, high in checks:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[name] = f"must be a whole number from {low} to {high}, got {value!r}"
    if not isinstance(temperature, (int, float)) or temperature < 0:
        errors["temperature"] = f"must be zero or more, got {temperature!r}"
    if method != "sft":
        errors["method"] = "self-training trains with sft (the pairs it stores are there for a DPO job)"
    if accept_rule not in ACCEPT_RULES:
        errors["accept_rule"] = f"must be one of {', '.join(ACCEPT_RULES)}"
    if train_from not in ("start", "previous"):
        errors["train_from"] = "must be start or previous"
    if not 0 <= dev_percent < 50:
        errors["dev_percent"] = "must be between 0 and 50"
    if mix is not None and (not isinstance(mix, dict) or any(not isinstance(w, (int, float)) or w < 0
                                                             for w in mix.values())):
        errors["mix"] = "must map kinds to weights of zero or more"
    perplexity = {**PERPLEXITY_DEFAULTS, **(perplexity or {})}
    unknown = set(perplexity) - set(PERPLEXITY_DEFAULTS)
    if unknown:
        errors["perplexity"] = f"unknown setting(s): {', '.join(sorted(unknown))}"
    elif perplexity["max"] is not None and not (isinstance(perplexity["max"], (int, float)) and perplexity["max"] > 0):
        errors["perplexity"] = "max must be a positive number"
    elif not 0 < float(perplexity["quantile"]) <= 1 or not 0 <= float(perplexity["keep_high_share"]) <= 1:
        errors["perplexity"] = "quantile must be in (0, 1] and keep_high_share in [0, 1]"
    stop = {**STOP_DEFAULTS, **(stop or {})}
    try:
        StopRule(max_rounds=max(1, rounds if isinstance(rounds, int) else 1), **stop)
    except (TypeError, ValueError) as exc:
        errors["stop"] = str(exc)
    values = {**(config or {}), "method": "sft", "base_model": "<checked when the job starts>",
              "output_dir": "<set when the job starts>"}
    try:
        TrainingConfig.from_mapping(values)
    except ConfigError as exc:
        errors.update({f"config.{name}": message for name, message in exc.errors.items()})
    if errors:
        raise ConfigError(errors)

    with transaction.atomic():
        job = create_job(Job.Kind.SELF_TRAINING, language=language, created_by=by, params={
            "start": start_value, "dataset": dataset, "rounds": rounds, "k": k, "temperature": float(temperature),
            "max_new_tokens": max_new_tokens, "method": method, "config": dict(config or {}),
            "accept_rule": accept_rule, "perplexity": perplexity, "reverse": bool(reverse),
            "reverse_limit": reverse_limit, "reverse_steps": reverse_steps, "stop": stop,
            "tasks": sorted(set(tasks)) if tasks else None, "tasks_limit": tasks_limit, "seed": seed, "mix": mix,
            "train_from": train_from,
            "dev_percent": dev_percent})
        job.params["output_dir"] = str(settings.DATA_DIR / "checkpoints" / f"self-train-job-{job.pk}")
        job.counters = {"rounds": []}
        job.save(update_fields=["params", "counters"])
        if send:
            from training.tasks import self_train

            enqueue(job, self_train, queue="training")
    return job


@dataclass(frozen=True)
class RoundOutcome:
    """What one self-training round sampled and how each candidate ran, as plain values.
    `results[i]` is the sandbox Result of `candidates[i]`; `tasks[name]` the Task."""

    round: int
    sampler: Checkpoint | None
    sampler_path: str
    model_name: str
    seed: int
    candidates: list
    results: list
    tasks: dict
    perplexities: list | None = None
    max_perplexity: float | None = None
    keep_high_share: float = 0.1
    seconds: dict | None = None


def do_store_self_training_round(job: Job, outcome: RoundOutcome, *, accept_rule: str | None = None,
                                 pair_fn=None):
    """Store one sampled round: its passing programs as `self_instruct` samples (with the
    execution that passed), those the perplexity filter dropped as auto-rejected samples
    (kept for provenance, out of every queue), passing-vs-failing preference pairs, and the
    SelfTrainingRound row with the round's pass figures — all in one transaction.

    accept_rule defaults to the job's; pair_fn(candidates, verdicts) -> [(chosen, rejected)]
    to training.self_training.pairs.
    Idempotent: a round already stored for this job is returned as it is. A program the
    language already has (same prompt and normalised code, the synthesis store's key) is
    counted as a duplicate and not stored again.
    Preconditions: job is a self-training job; accept_rule is auto or review; candidates
    and results line up.
    """
    from curation.execution import execution_from_result, pack_for, program_digest
    from curation.models import Execution, PreferencePair, ReviewStatus, Sample
    from sandbox import Program
    from training.models import SelfTrainingRound
    from training.self_training import pairs as default_pairs
    from training.self_training import round_stats, select

    if job.kind != Job.Kind.SELF_TRAINING:
        raise ValueError(f"job #{job.pk} is not a self-training job")
    accept_rule = accept_rule or job.params.get("accept_rule", "auto")
    if accept_rule not in ACCEPT_RULES:
        raise ValueError(f"accept_rule must be one of {', '.join(ACCEPT_RULES)}")
    if len(outcome.candidates) != len(outcome.results):
        raise ValueError(f"{len(outcome.candidates)} candidates but {len(outcome.results)} results")
    existing = SelfTrainingRound.objects.filter(job=job, round=outcome.round).first()
    if existing:
        return existing

    language = job.language
    line_comment = getattr(pack_for(language), "line_comment", "") or ""
    candidates, results, tasks = outcome.candidates, outcome.results, outcome.tasks
    verdicts = [str(getattr(r.verdict, "value", r.verdict)) for r in results]
    stats = round_stats(candidates, [v == "ok" for v in verdicts])
    selection = select(candidates, verdicts, perplexities=outcome.perplexities, max_perplexity=outcome.max_perplexity,
                       keep_high_share=outcome.keep_high_share, seed=outcome.seed)
    chosen_pairs = (pair_fn or default_pairs)(candidates, verdicts)
    generator = f"self_train.round{outcome.round}"
    status = ReviewStatus.ACCEPTED if accept_rule == "auto" else ReviewStatus.PENDING

    def program(i: int) -> Program:
        task = tasks[candidates[i].problem]
        return Program(candidates[i].code, tests=task.tests, entry_point=task.entry_point)

    def perplexity(i: int) -> float | None:
        value = outcome.perplexities[i] if outcome.perplexities else None
        return value if value is not None and math.isfinite(value) else None

    def metadata(i: int) -> dict:
        c = candidates[i]
        meta = {"round": outcome.round, "candidate": c.index, "temperature": job.params.get("temperature"),
                "finish_reason": c.finish_reason, "self_training_job": job.pk}
        if perplexity(i) is not None:
            meta["perplexity"] = round(perplexity(i), 3)
        return meta

    rows: dict[str, tuple[int, str, str]] = {}  # hash -> (candidate index, status, triage reason)
    for i in selection.kept:
        c = candidates[i]
        rows.setdefault(item_hash(line_comment, tasks[c.problem].prompt, c.code), (i, status, ""))
    for i, value in selection.filtered.items():
        c = candidates[i]
        reason = f"perplexity {value:.1f} above {outcome.max_perplexity:.1f}"
        rows.setdefault(item_hash(line_comment, tasks[c.problem].prompt, c.code),
                        (i, ReviewStatus.AUTO_REJECTED, reason))
    pair_rows: dict[str, tuple[int, int]] = {}
    for chosen, rejected in chosen_pairs:
        prompt = tasks[candidates[chosen].problem].prompt
        pair_rows.setdefault(item_hash(line_comment, prompt, candidates[chosen].code, candidates[rejected].code),
                             (chosen, rejected))

    with transaction.atomic():
        known = set(Sample.objects.filter(language=language, content_hash__in=list(rows))
                    .values_list("content_hash", flat=True))
        known_pairs = set(PreferencePair.objects.filter(language=language, content_hash__in=list(pair_rows))
                          .values_list("content_hash", flat=True))
        common = {"language": language, "generator": generator, "seed": outcome.seed, "model": outcome.model_name,
                  "licence": language.licence, "job": job}
        new_samples = []
        for h, (i, item_status, reason) in rows.items():
            if h in known:
                continue
            c = candidates[i]
            new_samples.append(Sample(kind=SELF_TRAIN_KIND, prompt=tasks[c.problem].prompt, code=c.code,
                                      task=tasks[c.problem], content_hash=h, verdict=verdicts[i], status=item_status,
                                      triage_reason=reason, quality=perplexity(i), metadata=metadata(i), **common))
        Sample.objects.bulk_create(new_samples, batch_size=500)
        index_of = {s.content_hash: rows[s.content_hash][0] for s in new_samples}
        Execution.objects.bulk_create([
            execution_from_result(results[index_of[s.content_hash]], sample=s,
                                  digest=program_digest(program(index_of[s.content_hash])), job=job)
            for s in new_samples], batch_size=500)

        new_pairs = [(h, chosen, rejected) for h, (chosen, rejected) in pair_rows.items() if h not in known_pairs]
        sides = [execution_from_result(results[i], sample=None, digest=program_digest(program(i)), job=job)
                 for _, chosen, rejected in new_pairs for i in (chosen, rejected)]
        Execution.objects.bulk_create(sides, batch_size=500)
        PreferencePair.objects.bulk_create([
            PreferencePair(prompt=tasks[candidates[chosen].problem].prompt, chosen=candidates[chosen].code,
                           rejected=candidates[rejected].code, task=tasks[candidates[chosen].problem],
                           chosen_execution=sides[2 * n], rejected_execution=sides[2 * n + 1], content_hash=h,
                           status=status, metadata={"round": outcome.round, "self_training_job": job.pk,
                                                    "rejected_verdict": verdicts[rejected]}, **common)
            for n, (h, chosen, rejected) in enumerate(new_pairs)], batch_size=500)

        record = SelfTrainingRound.objects.create(
            job=job, round=outcome.round, sampler=outcome.sampler, sampler_path=outcome.sampler_path,
            problems=stats.problems, samples=stats.samples, passed=stats.passed, pass_rate=stats.pass_rate,
            pass_at_1=stats.pass_at_1, pass_at_k=stats.pass_at_k, per_problem=stats.per_problem,
            stored=sum(1 for s in new_samples if s.status != ReviewStatus.AUTO_REJECTED),
            duplicates=sum(1 for h in rows if h in known), filtered=len(selection.filtered),
            pairs=len(new_pairs), seconds=dict(outcome.seconds or {}))
    return record


def do_store_backtranslations(job: Job, round_number: int, labels: list[tuple[int, str]], *, model_name: str) -> int:
    """Store the reverse model's descriptions of accepted programs that had none, as
    `backtranslate` samples awaiting review (a description is a claim about the code that
    a person must check), each pointing at the sample it describes. `labels` pairs an
    accepted sample's id with its description. Returns how many were new.

    Preconditions: job is a self-training job; each id is an accepted sample of the job's
    language without a prompt. Idempotent: the same description of the same code is stored once.
    """
    from curation.execution import pack_for
    from curation.models import ReviewStatus, Sample

    if job.kind != Job.Kind.SELF_TRAINING:
        raise ValueError(f"job #{job.pk} is not a self-training job")
    from curation.revisions import with_accepted_code

    language = job.language
    originals = Sample.objects.in_bulk([pk for pk, _ in labels])
    with_accepted_code(list(originals.values()))  # the description is of the accepted revision
    line_comment = getattr(pack_for(language), "line_comment", "") or ""
    rows = {}
    for pk, description in labels:
        original = originals.get(pk)
        if original is None or not description.strip():
            continue
        if original.language_id != language.pk or original.status != ReviewStatus.ACCEPTED or original.prompt.strip():
            raise ValueError(f"sample #{pk} is not an accepted {language.name} sample without a prompt")
        meta = {key: value for key, value in (original.metadata or {}).items()
                if key in ("tests", "entry_point", "stdin")}
        rows.setdefault(item_hash(line_comment, description, original.code), Sample(
            language=language, kind="backtranslate", prompt=description, code=original.code, task=original.task,
            parent=original, generator=f"self_train.reverse.round{round_number}", seed=job.params.get("seed"),
            model=model_name, licence=original.licence or language.licence, job=job, verdict=original.verdict,
            status=ReviewStatus.PENDING, metadata={**meta, "round": round_number, "parent_ref": f"sample:{pk}",
                                                   "self_training_job": job.pk}))
    with transaction.atomic():
        for h, sample in rows.items():
            sample.content_hash = h
        known = set(Sample.objects.filter(language=language, content_hash__in=list(rows))
                    .values_list("content_hash", flat=True))
        new = [s for h, s in rows.items() if h not in known]
        Sample.objects.bulk_create(new, batch_size=500)
    return len(new)


def unlabelled_code(language: Language, *, limit: int) -> list:
    """Accepted samples with no prompt that no self-training reverse model has described yet,
    each with its accepted revision as `code`."""
    from curation.models import ReviewStatus, Sample
    from curation.revisions import with_accepted_code

    described = Sample.objects.filter(language=language, kind="backtranslate",
                                      generator__startswith="self_train.reverse.").values("parent_id")
    return with_accepted_code(list(Sample.objects.filter(language=language, status=ReviewStatus.ACCEPTED, prompt="")
                                   .exclude(code="").exclude(pk__in=described).order_by("id")[:limit]))


# The synthesis store's exact-duplicate key (synthesis.store.item_hash): the prompt with its
# whitespace collapsed and the code normalised — comments and spacing outside string
# literals out. Rewritten here because training must not import synthesis;
# tests/training/test_self_training.py checks the two keys agree.
def item_hash(line_comment: str, prompt: str, *codes: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    digest.update(" ".join(prompt.split()).encode("utf-8"))
    digest.update(b"\x00")
    digest.update("\x1e".join(_normalised(code, line_comment) for code in codes).encode("utf-8"))
    return digest.hexdigest()


def _normalised(code: str, line_comment: str) -> str:
    pattern = _normaliser(line_comment)

    def replace(match: re.Match) -> str:
        if match.group("string") is not None:
            return match.group("string")
        return " " if match.group("space") is not None else ""

    lines = (line.strip() for line in pattern.sub(replace, code).split("\n"))
    return "\n".join(line for line in lines if line)


@lru_cache(maxsize=8)
def _normaliser(line_comment: str) -> re.Pattern:
    comment = rf"|(?P<comment>{re.escape(line_comment)}[^\n]*)" if line_comment else ""
    return re.compile(r"(?P<string>\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*')" + comment
                      + r"|(?P<space>[ \t\r\f\v]{2,}|[\t\r\f\v])")
