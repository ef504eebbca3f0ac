"""Datasets: the pure part — rows in the shapes TRL and `datasets` read, mix weights,
splits and the card. `do_freeze_dataset` (curation.actions) loads and stores around it.

Shapes (read by `datasets.load_dataset("json", ...)` and TRL's trainers as they are):
  cpt  {"text"}                                  every accepted program and doc answer
  sft  {"messages": [{"role", "content"}, ...]}  items with a prompt
  dpo  {"prompt", "chosen", "rejected"}          accepted preference pairs
  grpo {"prompt", "tests", "entry_point"}        items with tests, for a unit-test reward
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MIX = {"semantic": 3.0, "syntax": 1.0, "transpile": 2.0, "errfix": 1.5, "docqa": 1.0}
TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Item:
    """One accepted item, flattened from a Sample, PreferencePair or DocQAItem."""

    ref: str  # "sample:12", "pair:3", "docqa:5"
    kind: str  # a sample kind, "dpo" or "docqa"
    content_hash: str
    prompt: str = ""
    code: str = ""
    answer: str = ""  # doc-QA answer, errfix explanation
    rejected: str = ""
    tests: list | None = None
    entry_point: str | None = None
    generator: str = ""
    verdict: str = ""
    licence: str = ""
    model: str = ""
    files: dict | None = None
    edited: bool = False  # the reviewer's accepted revision, not the item as generated


@dataclass
class Frozen:
    rows: dict[str, dict[str, list[dict]]]  # shape -> split -> rows
    splits: dict[str, str]  # ref -> split
    weights: dict[str, float]  # ref -> weight
    card: dict = field(default_factory=dict)


def split_of(content_hash: str, dev_percent: float) -> str:
    """Deterministic: the same item lands in the same split in every version."""
    bucket = int(hashlib.sha256(content_hash.encode()).hexdigest()[:8], 16) % 10000
    return "dev" if bucket < dev_percent * 100 else "train"


def repeats(weight: float, content_hash: str) -> int:
    """How many times an item appears in an export for its mix weight: the whole part
    always, the fraction decided by the item's hash so re-exports are identical."""
    whole = math.floor(weight)
    frac = weight - whole
    draw = int(hashlib.sha256(("w" + content_hash).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return whole + (1 if draw < frac else 0)


def fenced(code: str, language: str) -> str:
    return f"```{language}\n{code.rstrip()}\n```"


def answer_text(item: Item, language: str) -> str:
    if item.files:
        return "\n".join(f"<FILE:{name}>\n{body.rstrip()}\n</FILE>" for name, body in item.files.items())
    if item.kind == "docqa":
        return item.answer + (f"\n\n{fenced(item.code, language)}" if item.code.strip() else "")
    if item.kind == "errfix" and item.answer:
        return f"{item.answer}\n\n{fenced(item.code, language)}"
    return fenced(item.code, language)


def rows_for(item: Item, language: str) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    if item.kind == "dpo":
        rows["dpo"] = {"prompt": item.prompt, "chosen": fenced(item.code, language), "rejected": fenced(item.rejected, language)}
        return rows
    text = item.code if item.kind != "docqa" else f"{item.prompt}\n\n{answer_text(item, language)}"
    rows["cpt"] = {"text": text}
    if item.prompt.strip():
        rows["sft"] = {"messages": [{"role": "user", "content": item.prompt},
                                    {"role": "assistant", "content": answer_text(item, language)}]}
    if item.tests and item.entry_point and item.prompt.strip():
        rows["grpo"] = {"prompt": [{"role": "user", "content": item.prompt}],
                        "tests": json.dumps(item.tests), "entry_point": item.entry_point}
    return rows


def freeze(items: list[Item], *, language: str, mix: dict[str, float] | None = None, dev_percent: float = 5.0,
           contaminated: dict[str, str] | None = None) -> Frozen:
    """Rows per shape and split, with mix weights applied to the train split only (the dev
    split measures; it is never upsampled). `contaminated` maps refs to the held-out
    problem they overlap; those are left out and reported on the card."""
    mix = {**DEFAULT_MIX, **(mix or {})}
    contaminated = contaminated or {}
    rows: dict[str, dict[str, list[dict]]] = {}
    splits, weights = {}, {}
    for item in items:
        if item.ref in contaminated:
            continue
        split = split_of(item.content_hash, dev_percent)
        weight = mix.get(item.kind, 1.0)
        splits[item.ref], weights[item.ref] = split, weight
        times = repeats(weight, item.content_hash) if split == "train" else 1
        for shape, row in rows_for(item, language).items():
            rows.setdefault(shape, {}).setdefault(split, []).extend([row] * times)
    kept = [i for i in items if i.ref in splits]
    card = {
        "items": len(kept),
        "by_kind": dict(Counter(i.kind for i in kept)),
        "by_generator": dict(Counter(i.generator for i in kept)),
        "by_verdict": dict(Counter(i.verdict or "n/a" for i in kept)),
        "by_split": dict(Counter(splits.values())),
        "edited_by_reviewers": sum(1 for i in kept if i.edited),
        "licences": dict(Counter(i.licence or "unknown" for i in kept)),
        "models": dict(Counter(i.model for i in kept if i.model)),
        "tokens": sum(len(TOKEN.findall(i.prompt + "\n" + i.code + "\n" + i.answer + "\n" + i.rejected)) for i in kept),
        "rows": {shape: {split: len(r) for split, r in by_split.items()} for shape, by_split in rows.items()},
        "mix_weights": mix,
        "dev_percent": dev_percent,
        "decontamination": {"excluded": len(contaminated),
                            "examples": dict(list(contaminated.items())[:20])},
    }
    return Frozen(rows, splits, weights, card)


def write_exports(frozen: Frozen, folder: Path) -> dict[str, str]:
    """JSONL and Parquet per shape and split; returns {"sft/train.jsonl": path, ...}.

    Written into a side folder renamed into place at the end, so a worker that dies
    mid-export leaves no half-written dataset."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    final = folder
    folder = final.with_name(final.name + ".partial")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    written = {}
    for shape, by_split in frozen.rows.items():
        for split, rows in by_split.items():
            target = folder / shape
            target.mkdir(exist_ok=True)
            jsonl = target / f"{split}.jsonl"
            with jsonl.open("w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            parquet = target / f"{split}.parquet"
            pq.write_table(pa.Table.from_pylist(rows), parquet)
            written[f"{shape}/{split}.jsonl"] = str(final / shape / jsonl.name)
            written[f"{shape}/{split}.parquet"] = str(final / shape / parquet.name)
    (folder / "card.json").write_text(json.dumps(frozen.card, indent=2, ensure_ascii=False))
    shutil.rmtree(final, ignore_errors=True)
    folder.rename(final)
    return written
