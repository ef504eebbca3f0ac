"""The declarative test compiler: neutral JSON tests become code in a pack's language.

A test is `{"args": [...], "expected": ...}`. How to write each literal, a call and an
equality assertion comes from the pack's `[tests]` table, so a new language needs data,
never a translator written in Python (MultiPL-E's approach).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from sandbox.pack import TestSpec


class TestFormatError(ValueError):
    """Tests that are not in the neutral form."""


@dataclass(frozen=True)
class NeutralTest:
    args: tuple
    expected: object


def parse_tests(raw) -> list[NeutralTest]:
    """Accept JSON text or already-decoded data; raise TestFormatError saying which test is wrong."""
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TestFormatError(f"tests are not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(raw, list) or not raw:
        raise TestFormatError("tests must be a non-empty JSON list")
    tests = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict) or set(item) != {"args", "expected"}:
            raise TestFormatError(f"test {i} must have exactly the keys 'args' and 'expected'")
        if not isinstance(item["args"], list):
            raise TestFormatError(f"test {i}: 'args' must be a list")
        tests.append(NeutralTest(tuple(item["args"]), item["expected"]))
    return tests


def literal(spec: TestSpec, value) -> str:
    lit = spec.literals
    if value is None:
        return lit["null"]
    if value is True:
        return lit["true"]
    if value is False:
        return lit["false"]
    if isinstance(value, int):
        return lit["int"].format(value=value)
    if isinstance(value, float):
        if math.isnan(value):
            return lit.get("float_nan", "(0/0)")
        if math.isinf(value):
            inf = lit.get("float_inf", "inf")
            return inf if value > 0 else lit.get("float_neg_inf", f"(-{inf})")
        return lit["float"].format(value=repr(value))
    if isinstance(value, str):
        return lit["string"].format(value=_escape(spec, value))
    if isinstance(value, (list, tuple)):
        return lit["list"].format(items=spec.separator.join(literal(spec, v) for v in value))
    if isinstance(value, dict):
        entries = (lit["map_entry"].format(key=literal(spec, str(k)), value=literal(spec, v)) for k, v in value.items())
        return lit["map"].format(items=spec.separator.join(entries))
    raise TestFormatError(f"no literal for a value of type {type(value).__name__}")


def compile_tests(spec: TestSpec, entry_point: str, tests: list[NeutralTest], marker: str) -> str:
    """Code to append to a program: prelude, one assertion per test, then the finish line."""
    lines = [spec.prelude.rstrip("\n")] if spec.prelude.strip() else []
    for index, test in enumerate(tests, 1):
        call = spec.call.format(entry_point=entry_point, args=spec.separator.join(literal(spec, a) for a in test.args))
        lines.append(spec.assertion.format(index=index, call=call, expected=literal(spec, test.expected)))
    lines.append(spec.finish.format(marker=marker))
    return "\n".join(lines) + "\n"


def _escape(spec: TestSpec, text: str) -> str:
    table = dict(spec.string_escapes)
    return "".join(table.get(ch, ch) for ch in text)
