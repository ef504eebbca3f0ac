"""The programs generators grow from: runnable examples, training-split task references and
accepted samples, each with the parent label its candidates carry."""
from __future__ import annotations

from dataclasses import dataclass

from synthesis.generators.subtrees import stable_hash


@dataclass(frozen=True)
class Program:
    parent: str  # "example:closures.lua", "task:sum_list", "accepted:<hash>"
    code: str
    tests: list | None = None
    entry_point: str | None = None
    task: str | None = None


def source_programs(source, params: dict, *, examples: bool = True, tasks: bool = True,
                    accepted: bool = True) -> list[Program]:
    """Held-out splits stay out: a generator never learns from dev/test references."""
    splits = set(params.get("splits", ["train"]))
    out: list[Program] = []
    if examples:
        for example in source.content.examples:
            if example.runnable or params.get("include_not_runnable"):
                out.append(Program(f"example:{example.name}", example.code))
    if tasks:
        for task in source.content.tasks:
            if task.split in splits:
                out.append(Program(f"task:{task.name}", task.reference, task.tests, task.entry_point, task.name))
    if accepted:
        for code in source.accepted:
            out.append(Program(f"accepted:{stable_hash(code)}", code))
    return out
