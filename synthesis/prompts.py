"""Talking to a model backend and reading its answers, shared by the model-driven generators.

A backend is anything with `generate(prompts, *, n, temperature, max_new_tokens, stop, seed)
-> list[list[Completion]]` (Completion has `.text`), as training.backends defines; it is
passed in `params["backend"]`, never imported here, so synthesis loads without training.
"""
from __future__ import annotations

import json
import re
from typing import Sequence

FENCE_BLOCK = re.compile(r"^[ \t]*(```|~~~)[ \t]*([^\n`]*)\n(.*?)^[ \t]*\1[ \t]*$", re.S | re.M)


class AnswerError(ValueError):
    """A model answer that cannot be used; `reason` is a short stable key for counting."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


def backend_name(backend) -> str:
    """What produced a candidate, for provenance: a server's model name, a local
    checkpoint's folder, else the backend's class."""
    for attr in ("name", "model", "model_name"):
        value = getattr(backend, attr, None)
        if isinstance(value, str) and value:
            return value
    config = getattr(getattr(backend, "model", None), "config", None)  # a transformers model
    path = getattr(config, "_name_or_path", None)
    if isinstance(path, str) and path:
        return path
    return type(backend).__name__


def sample(backend, prompts: Sequence[str], *, n: int, seed: int, temperature: float = 0.8,
           max_new_tokens: int = 512, stop: list[str] | None = None) -> list[list[str]]:
    """n completion texts per prompt. A backend that returns fewer lists than prompts is a
    bug in the backend, reported rather than silently mis-aligned."""
    if not prompts:
        return []
    out = backend.generate(list(prompts), n=n, temperature=temperature, max_new_tokens=max_new_tokens,
                           stop=stop, seed=seed)
    if len(out) != len(prompts):
        raise RuntimeError(f"backend returned {len(out)} completion lists for {len(prompts)} prompts")
    return [[c if isinstance(c, str) else c.text for c in row] for row in out]


def language_tags(pack) -> set[str]:
    """Fence info strings that mean 'this pack's language' (```lua, ```.lua, ```Lua)."""
    tags = {pack.slug.lower(), pack.grammar.lower(), pack.name.lower(), pack.extension.lstrip(".").lower()}
    return {t for t in tags if t}


def code_blocks(markdown: str, pack) -> list[str]:
    """Fenced blocks in the pack's language (or untagged), in order."""
    tags = language_tags(pack)
    blocks = []
    for match in FENCE_BLOCK.finditer(markdown):
        info = match.group(2).strip().lower().split(" ")[0] if match.group(2).strip() else ""
        if info == "" or info in tags:
            blocks.append(match.group(3).rstrip("\n") + "\n")
    return blocks


def strip_fences(markdown: str) -> str:
    return FENCE_BLOCK.sub("", markdown)


def extract_code(text: str, pack) -> str:
    """The program in a model answer: the first fenced block in the pack's language, else the
    first fenced block of any kind, else the whole answer (a bare completion)."""
    tags = language_tags(pack)
    first_any = None
    for match in FENCE_BLOCK.finditer(text):
        info = match.group(2).strip().lower()
        code = match.group(3).rstrip("\n") + "\n"
        if info in tags:
            return code
        if first_any is None:
            first_any = code
    if first_any is not None:
        return first_any
    # An unterminated fence: the model ran out of tokens or hit a stop string mid-block.
    opened = re.match(r"\s*(```|~~~)[^\n]*\n(.*)\Z", text, re.S)
    if opened:
        return opened.group(2).rstrip() + "\n"
    return text.strip("\n") + "\n" if text.strip() else ""


def parse_json_object(text: str) -> dict:
    """A JSON object answer, read strictly: the whole answer, or exactly one ```json block.
    Nothing is repaired — a half-valid answer is more likely to carry half-valid content."""
    stripped = text.strip()
    if not stripped:
        raise AnswerError("empty_answer")
    candidates = [stripped]
    blocks = [m.group(3) for m in FENCE_BLOCK.finditer(stripped) if m.group(2).strip().lower() in ("json", "")]
    if len(blocks) == 1:
        candidates.insert(0, blocks[0])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(value, dict):
            raise AnswerError("not_an_object", type(value).__name__)
        return value
    raise AnswerError("not_json", stripped[:80])


def fenced(code: str, pack) -> str:
    return f"```{pack.slug}\n{code.rstrip()}\n```"


def count_skip(report: dict | None, counts: dict, reason: str) -> None:
    """Count a skipped answer in the generator's own tally and in the caller's `report`."""
    counts[reason] = counts.get(reason, 0) + 1
    if report is not None:
        skipped = report.setdefault("skipped", {})
        skipped[reason] = skipped.get(reason, 0) + 1
