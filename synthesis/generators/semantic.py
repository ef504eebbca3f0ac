"""Semantic synthesis: task functions called on new inputs, with the properties that held.

`properties(source, params, seed)` takes each training task's reference solution, infers
the shape of its arguments from the task's neutral JSON tests (ints in a range, strings
over an alphabet, lists of a shape, maps, records with fixed keys), draws new arguments
of that shape, and emits the function followed by one print per call — the pipeline runs
it and records (code, input, output).

Inputs are drawn with `random.Random` seeded from (seed, task), not with hypothesis. A
retried job skips the chunks it stored by position, so the same seed must draw the same
inputs in any process, and hypothesis (6.170, tried here with `seed()`, `database=None`
and only the generate phase) does not promise that: it mixes in constants it collects
from whatever project modules are imported, so a worker that had loaded more modules drew
differently; it writes `.hypothesis/` (constants, Unicode tables) into the working
directory whatever the settings; its first example is always the simplest; a run holds at
most 8,192 choices; and drawing a task's inputs took 5 ms instead of 0.2 ms. Its shrinking
and example database buy nothing here — we want varied, valid inputs, not minimal
counterexamples. The drawing is still shape-directed and property-based in spirit:
boundary values (empty, zero) come first.

Each input is tried alone in the sandbox first, so one input that violates the function's
preconditions drops that input, not the program. Then candidate properties are checked
empirically on every kept input and only those that held on all of them are recorded in
`metadata["property"]`:

- `idempotent`  f(f(x)) prints the same as f(x)   (one argument, result shaped like it);
- `commutative` f(b, a) prints the same as f(a, b) (two arguments of the same shape);
- `boundary`    f runs on the empty/zero input; its output is in `metadata["boundary"]`.

Templates from the `[synthesis]` table: `print` ("print({value})") prints one value; for
functions that return lists or maps, `show` ("show({value})") turns a value into
deterministic text, defined by the code in `show_prelude`. A task whose results need
`show` is skipped when the pack has none.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Iterator

from sandbox.testcompiler import literal
from synthesis.candidates import Candidate, Source
from synthesis.generators import runner_probes
from synthesis.generators.synthesis_table import fill, synthesis_config

BOUNDARY_INT = 0


# ---------------------------------------------------------------- shapes

@dataclass
class Shape:
    kind: str  # int float bool null str list map record union
    lo: float = 0
    hi: float = 0
    alphabet: str = ""
    min_len: int = 0
    max_len: int = 0
    samples: list = field(default_factory=list)
    item: "Shape | None" = None  # list items, map values
    fields: dict = field(default_factory=dict)  # record: key -> Shape
    options: list = field(default_factory=list)  # union members

    @property
    def structured(self) -> bool:
        if self.kind == "union":
            return any(o.structured for o in self.options)
        return self.kind in ("list", "map", "record")


def _kind_of(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "map"


def infer(values: list) -> Shape:
    """The shape that covers every observed value."""
    groups: dict[str, list] = {}
    for value in values:
        kind = _kind_of(value)
        if kind == "float" or (kind == "int" and "float" in groups):
            kind = "float"
            if "int" in groups:
                groups.setdefault("float", []).extend(groups.pop("int"))
        groups.setdefault(kind, []).append(value)
    shapes = [_infer_kind(kind, group) for kind, group in groups.items()]
    if len(shapes) == 1:
        return shapes[0]
    return Shape("union", options=shapes)


def _infer_kind(kind: str, values: list) -> Shape:
    if kind in ("int", "float"):
        return Shape(kind, lo=min(values), hi=max(values), samples=list(dict.fromkeys(values)))
    if kind == "str":
        chars = "".join(sorted({c for v in values for c in v}))
        return Shape("str", alphabet=chars or string.ascii_lowercase, min_len=min(map(len, values)),
                     max_len=max(map(len, values)), samples=list(dict.fromkeys(values)))
    if kind == "list":
        items = [x for v in values for x in v]
        return Shape("list", min_len=min(map(len, values)), max_len=max(map(len, values)),
                     item=infer(items) if items else Shape("int", lo=0, hi=9))
    if kind == "map":
        keysets = {tuple(sorted(v)) for v in values}
        if len(keysets) == 1 and keysets != {()}:
            keys = next(iter(keysets))
            return Shape("record", fields={k: infer([v[k] for v in values]) for k in keys})
        keys = [k for v in values for k in v]
        items = [x for v in values for x in v.values()]
        return Shape("map", min_len=min(map(len, values)), max_len=max(map(len, values)),
                     item=infer(items) if items else Shape("int", lo=0, hi=9),
                     samples=list(dict.fromkeys(keys)),
                     alphabet="".join(sorted({c for k in keys for c in k})) or string.ascii_lowercase)
    return Shape(kind, samples=list(dict.fromkeys(values)))


def draw(shape: Shape, rng: random.Random, depth: int = 0):
    kind = shape.kind
    if kind == "union":
        return draw(rng.choice(shape.options), rng, depth)
    if kind == "int":
        lo, hi = int(shape.lo), int(shape.hi)
        pick = rng.random()
        if pick < 0.2 and shape.samples:
            return rng.choice(shape.samples)
        if pick < 0.3:
            return rng.choice([lo, hi])
        return rng.randint(lo, hi)
    if kind == "float":
        return round(rng.uniform(shape.lo, shape.hi), 2)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "str":
        return _draw_string(shape, rng)
    if kind == "list":
        length = rng.randint(shape.min_len, shape.max_len + 2) if depth < 3 else shape.min_len
        item = shape.item
        if item.kind == "union" and not item.structured:
            item = rng.choice(item.options)  # one element kind per list: lists are homogeneous
        return [draw(item, rng, depth + 1) for _ in range(length)]
    if kind == "record":
        return {key: draw(sub, rng, depth + 1) for key, sub in shape.fields.items()}
    if kind == "map":
        size = rng.randint(shape.min_len, shape.max_len + 1) if depth < 3 else shape.min_len
        out = {}
        for _ in range(size * 2):
            if len(out) >= size:
                break
            if shape.samples and rng.random() < 0.6:
                key = rng.choice(shape.samples)
            else:
                key = "".join(rng.choice(shape.alphabet) for _ in range(rng.randint(1, 5)))
            out[key] = draw(shape.item, rng, depth + 1)
        return out
    return None


def _draw_string(shape: Shape, rng: random.Random) -> str:
    """Mostly variations of observed strings (they carry the format a function expects:
    "push 1", "1.2.10"), sometimes fresh text over the observed alphabet."""
    samples = [s for s in shape.samples if s]
    if samples and rng.random() < 0.65:
        text = rng.choice(samples)
        move = rng.randrange(4)
        if move == 0 and len(text) > 1:
            i = rng.randrange(len(text))
            return text[:i] + text[i + 1:]
        if move == 1:
            i = rng.randrange(len(text) + 1)
            return text[:i] + rng.choice(shape.alphabet) + text[i:]
        if move == 2 and len(text) > 1:
            chars = list(text)
            i = rng.randrange(len(chars) - 1)
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
            return "".join(chars)
        return text + rng.choice(samples) if len(samples) > 1 else text * 2
    length = rng.randint(shape.min_len, max(shape.min_len, shape.max_len + 2))
    return "".join(rng.choice(shape.alphabet) for _ in range(length))


def boundary(shape: Shape):
    """The empty/zero value of a shape, or a sentinel when it has none."""
    kind = shape.kind
    if kind == "union":
        for option in shape.options:
            value = boundary(option)
            if value is not _NONE:
                return value
        return _NONE
    if kind == "list":
        return []
    if kind == "str":
        return ""
    if kind == "map":
        return {}
    if kind in ("int", "float"):
        zero = 0 if kind == "int" else 0.0
        return zero if shape.lo <= 0 <= shape.hi else _NONE
    return _NONE


_NONE = object()


# ---------------------------------------------------------------- the generator

@dataclass
class _Plan:
    task: object
    shapes: list[Shape]
    result: Shape
    inputs: list[list]
    boundary_args: list | None
    structured: bool
    checks: dict = field(default_factory=dict)  # name -> list of program indices


def properties(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (one per training task), inputs (5) per program, splits (["train"]),
    check_properties (True)."""
    pack = source.pack
    config = synthesis_config(pack, params)
    printer = config.get("print")
    if not printer:
        return
    show, show_prelude = config.get("show"), config.get("show_prelude", "")
    splits = set(params.get("splits", ["train"]))
    tasks = [t for t in source.content.tasks if t.split in splits and t.tests]
    if not tasks:
        return
    count = int(params.get("count", len(tasks)))
    n_inputs = max(1, int(params.get("inputs", 5)))
    rng = random.Random(seed)
    order = tasks[:]
    rng.shuffle(order)

    plans: list[_Plan] = []
    for number in range(count):
        task = order[number % len(order)]
        task_rng = random.Random(f"{seed}:{number}:{task.name}")
        arity = len(task.tests[0]["args"])
        if any(len(t["args"]) != arity for t in task.tests):
            continue
        shapes = [infer([t["args"][i] for t in task.tests]) for i in range(arity)]
        result = infer([t["expected"] for t in task.tests])
        structured = result.structured
        if structured and not show:
            continue
        inputs, seen = [], set()
        bound = [boundary(s) for s in shapes]
        boundary_args = bound if arity and all(b is not _NONE for b in bound) else None
        for _ in range(n_inputs * 6):
            if len(inputs) >= n_inputs:
                break
            args = [draw(s, task_rng) for s in shapes]
            key = repr(args)
            if key not in seen and args != boundary_args:
                seen.add(key)
                inputs.append(args)
        if inputs:
            plans.append(_Plan(task, shapes, result, inputs, boundary_args, structured))

    programs: list[str] = []

    def add(plan: _Plan, calls: list[str]) -> int:
        programs.append(_program(plan.task.reference, calls, printer, show if plan.structured else None,
                                 show_prelude if plan.structured else ""))
        return len(programs) - 1

    spec = pack.tests
    check = bool(params.get("check_properties", True))
    for plan in plans:
        ep = plan.task.entry_point
        calls = [_call(spec, ep, args) for args in plan.inputs]
        plan.checks["single"] = [add(plan, [c]) for c in calls]
        if plan.boundary_args is not None:
            plan.checks["boundary"] = [add(plan, [_call(spec, ep, plan.boundary_args)])]
        if not check:
            continue
        if len(plan.shapes) == 1 and _same_kind(plan.shapes[0], plan.result):
            plan.checks["idempotent"] = [add(plan, [fill(spec.call, entry_point=ep, args=c)]) for c in calls]
        if len(plan.shapes) == 2 and _same_kind(plan.shapes[0], plan.shapes[1]):
            plan.checks["commutative"] = [add(plan, [_call(spec, ep, list(reversed(args)))]) for args in plan.inputs]

    from sandbox import Program

    answers = runner_probes.run_outputs(pack, [Program(code) for code in programs])
    for plan in plans:
        singles = [answers[i] for i in plan.checks["single"]]
        keep = [k for k, a in enumerate(singles) if a.verdict == "ok" and a.stdout]
        if not keep:
            continue
        held, metadata = [], {}
        if "boundary" in plan.checks:
            answer = answers[plan.checks["boundary"][0]]
            if answer.verdict == "ok" and answer.stdout:
                held.append("boundary")
                metadata["boundary"] = {"args": plan.boundary_args, "output": answer.stdout}
        for name in ("idempotent", "commutative"):
            if name in plan.checks:
                others = [answers[plan.checks[name][k]] for k in keep]
                if all(o.verdict == "ok" and o.stdout == singles[k].stdout for o, k in zip(others, keep)):
                    held.append(name)
        inputs = [plan.inputs[k] for k in keep]
        calls = [_call(spec, plan.task.entry_point, args) for args in inputs]
        if "boundary" in held:
            inputs.insert(0, plan.boundary_args)
            calls.insert(0, _call(spec, plan.task.entry_point, plan.boundary_args))
        code = _program(plan.task.reference, calls, printer, show if plan.structured else None,
                        show_prelude if plan.structured else "")
        outputs = ([metadata["boundary"]["output"]] if "boundary" in held else []) + [singles[k].stdout for k in keep]
        metadata.update({
            "generator": "semantic.properties", "entry_point": plan.task.entry_point, "task_prompt": plan.task.prompt,
            "calls": [{"args": a, "output": o} for a, o in zip(inputs, outputs)],
            "checked": sorted(n for n in ("boundary", "idempotent", "commutative") if n in plan.checks),
        })
        if held:
            metadata["property"] = held
        yield Candidate(kind="semantic", code=code, entry_point=plan.task.entry_point, expect="ok",
                        parent=f"task:{plan.task.name}", metadata=metadata)


def _call(spec, entry_point: str, args: list) -> str:
    return fill(spec.call, entry_point=entry_point, args=spec.separator.join(literal(spec, a) for a in args))


def _program(reference: str, calls: list[str], printer: str, show: str | None, prelude: str) -> str:
    lines = [reference.strip("\n"), ""]
    if show and prelude.strip():
        lines += [prelude.strip("\n"), ""]
    for call in calls:
        lines.append(fill(printer, value=fill(show, value=call) if show else call))
    return "\n".join(lines) + "\n"


def _same_kind(a: Shape, b: Shape) -> bool:
    kinds = lambda s: {o.kind for o in s.options} if s.kind == "union" else {s.kind}  # noqa: E731
    numeric = {"int", "float"}
    ka, kb = kinds(a), kinds(b)
    if ka <= numeric and kb <= numeric:
        return True
    return ka == kb
