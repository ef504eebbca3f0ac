"""Generators that misbehave on purpose, for the synthesis task's tests."""
from __future__ import annotations

from synthesis.candidates import Candidate


def raises_after_some(source, params, seed):
    for i in range(params.get("good", 5)):
        yield Candidate("syntax", f"print({seed * 1000 + i})", prompt=f"Print {i}.")
    raise RuntimeError("the generator broke on purpose")


def prints_numbers(source, params, seed):
    for i in range(params.get("n", 10)):
        yield Candidate("syntax", f"local x = {i}\nprint(x * {seed + 2})", prompt=f"Print {i} times {seed + 2}.")
