"""A `Problem` as JSON and back, for storing a suite's problems in the database. Pure."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Iterable

from evaluation.suites import Problem

_TUPLES = ("stop_tokens", "anchors")


def problem_to_dict(problem: Problem) -> dict:
    data = dataclasses.asdict(problem)
    for name in _TUPLES:
        data[name] = list(data[name])
    # JSON has no tuples: metadata round-trips as lists, which every reader iterates.
    return json.loads(json.dumps(data))


def problem_from_dict(data: dict) -> Problem:
    known = {f.name for f in dataclasses.fields(Problem)}
    values = {k: v for k, v in data.items() if k in known}
    for name in _TUPLES:
        values[name] = tuple(values.get(name) or ())
    return Problem(**values)


def problems_digest(problems: Iterable[Problem]) -> str:
    digest = hashlib.sha256()
    for problem in problems:
        digest.update(json.dumps(problem_to_dict(problem), sort_keys=True).encode() + b"\n")
    return digest.hexdigest()
