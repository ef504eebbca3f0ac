"""Semantics-preserving augmentation: rename, reformat, reorder, and rewrite loops.

Each generator takes runnable examples, training-task references (with their tests, so the
pipeline's equivalence check runs the function) and accepted samples, and emits variants of
kind "augment" with `equivalent_to` = the original; the pipeline keeps a variant only if its
verdict and output are identical to the original's. `metadata["transform"]` says what changed.

- `rename`   renames user-defined locals, parameters and functions, scope by scope, using the
             grammar's `locals.scm` query (scopes, definitions, references). Keywords and
             builtins are never renamed, nor names used as fields (`t.x`, `o:m`, `{x = 1}`),
             nor a task's entry point;
- `reformat` re-spaces the program between tokens (indentation width, blank lines, spaces
             around binary operators); the token sequence and the tree are checked unchanged;
- `reorder`  swaps two adjacent assignments/declarations that share no names and call nothing;
- `for_while` rewrites a numeric for loop with a literal step as a while loop, with the
             template of the `[synthesis.numeric_for]` table (see the module's README note).
"""
from __future__ import annotations

import importlib
import random
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import tree_sitter

from curation.grammar import language_for
from synthesis.candidates import Candidate, Source
from synthesis.generators.programs import Program, source_programs
from synthesis.generators.subtrees import (
    NUMBER_TEXT, Tree, binary_parts, column_of, indented, is_field_name, is_key_position, read, splice, tokens,
    walk, word_type,
)
from synthesis.generators.synthesis_table import fill, synthesis_config

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _programs(source: Source, params: dict) -> list[tuple[Program, Tree]]:
    out = []
    for program in source_programs(source, params):
        tree = _tree(program.code, source.pack.grammar)
        if not tree.root.has_error:
            out.append((program, tree))
    return out


# Parsed source programs and what the transforms learn from each, kept between calls: a
# worker runs job after job on the same pack, and the programs a job draws from are the
# same few dozen, drawn hundreds of times. Trees are never edited, so sharing them is safe;
# everything cached is a function of the program text (and the arguments in its key).
_TREES: "OrderedDict[tuple[str, str], Tree]" = OrderedDict()
_LEARNED: "OrderedDict[tuple, object]" = OrderedDict()
_CACHE_LIMIT = 4096
_cache_lock = threading.Lock()


def _tree(code: str, grammar: str) -> Tree:
    return _memo(_TREES, (grammar, code), lambda: read(code, grammar))


def _learned(key: tuple, make):
    return _memo(_LEARNED, key, make)


def _memo(cache: OrderedDict, key, make):
    with _cache_lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = make()
    with _cache_lock:
        cache[key] = value
        while len(cache) > _CACHE_LIMIT:
            cache.popitem(last=False)
    return value


def _candidate(program: Program, code: str, transform: str, **detail) -> Candidate:
    return Candidate(kind="augment", code=code, equivalent_to=program.code, parent=program.parent,
                     tests=program.tests, entry_point=program.entry_point, expect="ok",
                     metadata={"generator": f"augment.{transform}", "transform": transform, **detail})


def _emit(source: Source, params: dict, seed: int, transform: str, make) -> Iterator[Candidate]:
    """Round-robin over programs, `make(program, tree, rng)` -> (code, detail) or None."""
    rng = random.Random(seed)
    count = int(params.get("count", 50))
    programs = _programs(source, params)
    if not programs:
        return
    seen = {p.code for p, _ in programs}
    emitted, attempts = 0, int(params.get("max_attempts", count * 10 + 20))
    order = list(range(len(programs)))
    rng.shuffle(order)
    for attempt in range(attempts):
        if emitted >= count:
            break
        program, tree = programs[order[attempt % len(order)]]
        made = make(program, tree, rng)
        if made is None:
            continue
        code, detail = made
        if code in seen:
            continue
        seen.add(code)
        emitted += 1
        yield _candidate(program, code, transform, **detail)


# ---------------------------------------------------------------- rename

def rename(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (50), max_renames (3) bindings per variant."""
    pack = source.pack
    config = synthesis_config(pack, params)
    query = _locals_query(pack)
    if query is None:
        return
    word = word_type(pack.grammar, config)
    block = config.get("block", "block")
    reserved = set(pack.keywords) | set(pack.builtins)
    programs = _programs(source, params)
    # New names come from what the pack's own programs call things, so they read naturally.
    vocabulary = _learned(("vocabulary", pack.grammar, word, frozenset(reserved), tuple(p.code for p, _ in programs)),
                          lambda: sorted({tree.text(n) for _, tree in programs for n in walk(tree.root)
                                          if n.type == word and NAME.match(tree.text(n))
                                          and tree.text(n) not in reserved and not is_field_name(tree, n)}))
    max_renames = max(1, int(params.get("max_renames", 3)))

    def make(program: Program, tree: Tree, rng: random.Random):
        bindings = _learned(("bindings", str(pack.root), pack.grammar, program.code, word, block),
                            lambda: _bindings(tree, query, word, block))
        protected = reserved | ({program.entry_point} if program.entry_point else set())
        options = [b for b in bindings if b.name not in protected and b.definitions]
        if not options:
            return None
        taken = set(_learned(("names", pack.grammar, program.code, word),
                             lambda: frozenset(tree.text(n) for n in walk(tree.root) if n.type == word)))
        chosen = rng.sample(options, min(len(options), rng.randint(1, max_renames)))
        edits, renamed = [], []
        for binding in chosen:
            fresh = [v for v in vocabulary if v not in taken and v not in protected]
            new = rng.choice(fresh) if fresh and rng.random() < 0.8 else _suffixed(binding.name, taken, rng)
            taken.add(new)
            edits += [(n.start_byte, n.end_byte, new) for n in binding.occurrences]
            renamed.append({"from": binding.name, "to": new, "occurrences": len(binding.occurrences)})
        code = splice(tree.data, edits)
        after = read(code, pack.grammar)
        if after.root.has_error or str(after.root) != str(tree.root):
            return None
        return code, {"renamed": renamed}

    yield from _emit(source, params, seed, "rename", make)


def _suffixed(name: str, taken: set[str], rng: random.Random) -> str:
    for suffix in ("_value", "_v", "2", "_x", "_item", "_" + str(rng.randint(1, 99))):
        candidate = name + suffix
        if candidate not in taken:
            return candidate
    return name + "_" + str(len(taken))


def _locals_query(pack) -> tree_sitter.Query | None:
    """The grammar's own scope query: tree_sitter_<grammar>.LOCALS_QUERY, else the pack's
    grammar/locals.scm."""
    text = None
    try:
        module = importlib.import_module(f"tree_sitter_{pack.grammar.replace('-', '_')}")
        text = getattr(module, "LOCALS_QUERY", None)
    except ImportError:
        pass
    path = Path(pack.root) / "grammar" / "locals.scm"
    if not text and path.is_file():
        text = path.read_text(encoding="utf-8")
    if not text:
        return None
    try:
        return tree_sitter.Query(language_for(pack.grammar), text)
    except Exception:  # noqa: BLE001 - a query for another grammar version: no renaming
        return None


class _Binding:
    def __init__(self, name: str, scope, effective: int):
        self.name, self.scope, self.effective = name, scope, effective
        self.definitions: list = []
        self.occurrences: list = []


def _bindings(tree: Tree, query: tree_sitter.Query, word: str, block: str = "block") -> list[_Binding]:
    """Definitions grouped into bindings, references resolved to them.

    A definition of a name that is already visible is an assignment to that binding, not a
    new one (`count = count + 1` in a closure; a redeclaration): merging is always safe for
    a consistent rename, splitting is not. A definition inside an `=` statement takes effect
    after it (`local x = x` reads the outer x). A reference that resolves nowhere by position
    falls back to any binding of its name in an enclosing scope (a global function used
    above its definition)."""
    captures = tree_sitter.QueryCursor(query).captures(tree.root)
    scopes = captures.get("local.scope", [])
    scope_ids = {s.id for s in scopes}
    definitions = sorted(captures.get("local.definition", []), key=lambda n: n.start_byte)
    definition_ids = {d.id for d in definitions}

    def scope_of(node):
        current = node.parent
        while current is not None:
            if current.id in scope_ids:
                if node.parent is not None and node.parent.id == current.id:
                    node = current  # a function's own name belongs to the enclosing scope
                    current = current.parent
                    continue
                return current
            current = current.parent
        return tree.root

    def effective_from(node, scope) -> int:
        current, top = node.parent, None
        while current is not None and current.id != scope.id:
            if any(not c.is_named and c.type == "=" for c in current.children) and current.id not in scope_ids:
                top = current
            current = current.parent
        return top.end_byte if top is not None else node.start_byte

    def contains(outer, inner) -> bool:
        return outer.start_byte <= inner.start_byte and inner.end_byte <= outer.end_byte

    def depth(node) -> int:
        d, current = 0, node
        while current.parent is not None:
            d, current = d + 1, current.parent
        return d

    bindings: list[_Binding] = []

    def visible(name: str, node, position: int) -> _Binding | None:
        best = None
        for b in bindings:
            if b.name == name and contains(b.scope, node) and b.effective <= position:
                if best is None or (depth(b.scope), b.effective) > (depth(best.scope), best.effective):
                    best = b
        return best

    for d in definitions:
        if d.type != word or is_field_name(tree, d):
            continue
        name = tree.text(d)
        existing = visible(name, d, d.start_byte)
        scope = scope_of(d)
        declares = _declares(d, scope, block)
        if not declares and existing is None:
            # An assignment to nothing visible writes a global: one binding for the whole file.
            existing = next((b for b in bindings if b.name == name and b.scope.id == tree.root.id), None)
            scope = tree.root
        if existing is not None and (existing.scope.id == scope.id or not declares):
            existing.definitions.append(d)
            existing.occurrences.append(d)
            continue
        binding = _Binding(name, scope, effective_from(d, scope) if scope.id != tree.root.id or declares else 0)
        binding.definitions.append(d)
        binding.occurrences.append(d)
        bindings.append(binding)

    for node in walk(tree.root):
        if node.type != word or node.id in definition_ids or is_field_name(tree, node) or is_key_position(node):
            continue
        name = tree.text(node)
        target = visible(name, node, node.start_byte)
        if target is None:
            enclosing = [b for b in bindings if b.name == name and contains(b.scope, node)]
            target = min(enclosing, key=lambda b: depth(b.scope)) if enclosing else None
        if target is not None:
            target.occurrences.append(node)
    return bindings


def _declares(definition, scope, block: str) -> bool:
    """Whether a definition opens a binding of its own: parameters and declarations that a
    keyword or bracket opens (`local x`, `(a, b)`) do; a bare `x = ...` does not — it assigns
    a visible variable, or a global. Recognised structurally: within its statement (below
    the enclosing block or scope), some construct around the name starts with an anonymous
    token. Constructs above the statement (`else ...`) do not count."""
    current = definition
    while current.parent is not None and current.parent.id != scope.id and current.parent.type != block:
        parent = current.parent
        if parent.children and not parent.children[0].is_named:
            return True
        current = parent
    return False


# ---------------------------------------------------------------- reformat

STYLES = {
    "indent": ["  ", "    ", "   ", "\t"],
    "blank_lines": ["keep", "collapse", "spread"],
    "operators": ["keep", "spaced", "tight"],
}


def reformat(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (50). Each variant picks an indentation unit, a blank-line policy and
    an operator-spacing policy; a variant whose tokens or tree differ from the original's
    (spacing that glued two tokens into one) is dropped."""
    pack = source.pack
    operators = frozenset(pack.operators) | frozenset(pack.keywords)
    # Operators are the tokens of node types that take several different ones (`a + b`,
    # `a .. b`); a node type with one fixed token (`t.x`, `a, b`) is punctuation.
    programs = _programs(source, params)

    def learn() -> frozenset[str]:
        seen: dict[str, set[str]] = {}
        for _, tree in programs:
            for node in walk(tree.root):
                parts = binary_parts(node, operators)
                if parts:
                    seen.setdefault(node.type, set()).add(parts[1].type)
        return frozenset(kind for kind, ops in seen.items() if len(ops) >= 2)

    operation_kinds = _learned(("operation_kinds", pack.grammar, operators, tuple(p.code for p, _ in programs)), learn)

    # A program has 36 styles and many of them print the same text, so most attempts of a
    # large job draw a (program, style) it has drawn before: each is respaced and checked
    # once (reading the variant back was 90% of the time of a 900-candidate job).
    variants: dict[tuple, tuple | None] = {}

    def make(program: Program, tree: Tree, rng: random.Random):
        style = {key: rng.choice(values) for key, values in STYLES.items()}
        key = (program.code, tuple(style.values()))
        if key not in variants:
            variants[key] = variant(program, tree, style)
        return variants[key]

    def variant(program: Program, tree: Tree, style: dict):
        # The original's tokens, operators and indentation unit, and its token signature,
        # are learned once per program, not once per variant.
        layout = _learned(("layout", pack.grammar, program.code, operators, operation_kinds),
                          lambda: _Layout.of(tree, operators, operation_kinds))
        code = _respaced(tree, style, layout)
        if code == program.code:
            style["operators"] = "spaced" if style["operators"] != "spaced" else "tight"
            code = _respaced(tree, style, layout)
        after = read(code, pack.grammar)
        if after.root.has_error or str(after.root) != layout.tree_text or _signature(after) != layout.signature:
            return None
        return code, {"style": {k: ("tab" if v == "\t" else v) for k, v in style.items()}}

    yield from _emit(source, params, seed, "reformat", make)


def _signature(tree: Tree) -> list[tuple[str, str]]:
    return [(t.type, tree.text(t)) for t in tokens(tree.root)]


@dataclass(frozen=True)
class _Layout:
    """What respacing needs to know of an original program, whatever the style: per token
    its text, the gap before it and its flags, read off the tree once per program (reading
    tree-sitter nodes was most of the cost of a variant)."""
    head: str  # what precedes the first token
    texts: list[str]
    gaps: list[str]  # gaps[i]: the text between token i - 1 and token i ("" for the first)
    binary: list[bool]  # the operator token of a binary operation
    starts_statement: list[bool]
    extra: list[bool]  # a comment or other extra
    tail: str
    unit: int  # the indentation step the program uses
    tree_text: str  # str(root): the tree a variant must keep
    signature: list[tuple[str, str]]  # _signature(tree): the tokens a variant must keep

    @classmethod
    def of(cls, tree: Tree, operators: frozenset[str], operation_kinds: frozenset[str]) -> "_Layout":
        toks = tokens(tree.root)
        binary_ops = frozenset(parts[1].id for node in walk(tree.root)
                               if node.type in operation_kinds and (parts := binary_parts(node, operators)))
        statement_starts = frozenset(c.start_byte for c in tree.root.named_children if not c.is_extra)
        widths = [len(_indent_of(tree.data[:t.start_byte])) for t in toks if _starts_line(tree.data, t.start_byte)]
        unit = min((w for w in widths if w > 0), default=2)
        data = tree.data
        gaps = [""] + [data[a.end_byte:b.start_byte].decode("utf-8") for a, b in zip(toks, toks[1:])]
        return cls(data[:toks[0].start_byte].decode("utf-8") if toks else "", [tree.text(t) for t in toks], gaps,
                   [t.id in binary_ops for t in toks], [t.start_byte in statement_starts for t in toks],
                   [t.is_extra for t in toks], data[toks[-1].end_byte:].decode("utf-8") if toks else "",
                   unit, str(tree.root), _signature(tree))


def _respaced(tree: Tree, style: dict, layout: _Layout) -> str:
    texts, gaps, binary = layout.texts, layout.gaps, layout.binary
    if not texts:
        return tree.code
    operators = style["operators"]
    out = [layout.head, texts[0]]
    for i in range(1, len(texts)):
        gap = gaps[i]
        if "\n" in gap:
            out.append(_line_break(gap, layout.extra[i - 1], layout.starts_statement[i], style, layout.unit))
        elif operators != "keep" and (binary[i - 1] or binary[i]):
            previous, current = texts[i - 1], texts[i]
            operator = previous if binary[i - 1] else current
            tight = operators == "tight" and not operator[:1].isalpha() and not _glues(previous[-1:], current[:1])
            out.append("" if tight else " ")
        else:
            out.append(gap)
        out.append(texts[i])
    tail = layout.tail
    return "".join(out) + ("\n" if "\n" in tail else tail)


def _line_break(gap: str, previous_extra: bool, starts_statement: bool, style: dict, unit: int) -> str:
    newlines = gap.count("\n")
    if style["blank_lines"] == "collapse":
        newlines = 1
    elif style["blank_lines"] == "spread" and starts_statement and not previous_extra:
        newlines = max(newlines, 2)
    indent = gap.rsplit("\n", 1)[1].expandtabs(4)
    level = round(len(indent) / unit)
    return "\n" * min(newlines, 3) + style["indent"] * level


def _glues(left: str, right: str) -> bool:
    """Whether two characters written together could read as one token (`a` `and`, `-` `-`)."""
    word = lambda c: c.isalnum() or c == "_"  # noqa: E731
    if word(left) and word(right):
        return True
    brackets = "()[]{}\"'"
    return bool(left and right) and not word(left) and not word(right) and left not in brackets \
        and right not in brackets


def _starts_line(data: bytes, offset: int) -> bool:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return not data[line_start:offset].strip()


def _indent_of(before: bytes) -> str:
    line_start = before.rfind(b"\n") + 1
    return before[line_start:].decode("utf-8", "replace").expandtabs(4)


# ---------------------------------------------------------------- reorder

def reorder(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (50). Swaps two adjacent statements of one block that both assign
    (contain `=`, or the `[synthesis]` key `assign`), call nothing, and share no names."""
    pack = source.pack
    config = synthesis_config(pack, params)
    word = word_type(pack.grammar, config)
    assign = config.get("assign", "=")
    block = config.get("block", "block")

    def names(tree: Tree, node) -> set[str]:
        # Builtins count too: two writes through `self` or a library table may touch the same field.
        return {tree.text(n) for n in walk(node) if n.type == word and not is_field_name(tree, n)
                and not is_key_position(n)}

    def calls(node) -> bool:
        for n in walk(node):
            if n.is_named and n.named_child_count == 2 and n.child_count == 2:
                args = n.children[1]
                if args.child_count and args.children[0].type == "(" and not args.children[0].is_named:
                    return True
        return False

    def assigns(node) -> bool:
        frontier = [node]
        for _ in range(2):
            nxt = []
            for n in frontier:
                if any(not c.is_named and c.type == assign for c in n.children):
                    return True
                nxt += n.named_children
            frontier = nxt
        return False

    def swappable(tree: Tree) -> list:
        pairs = []
        for node in walk(tree.root):
            if node.type != block and node.id != tree.root.id:
                continue
            children = [c for c in node.named_children]
            for a, b in zip(children, children[1:]):
                if a.is_extra or b.is_extra:
                    continue
                between = tree.data[a.end_byte:b.start_byte]
                if between.strip():
                    continue
                if assigns(a) and assigns(b) and not calls(a) and not calls(b) \
                        and not (names(tree, a) & names(tree, b)):
                    pairs.append((a, b))
        return pairs

    def make(program: Program, tree: Tree, rng: random.Random):
        # Most attempts land on a program with no such pair: finding them is done once.
        pairs = _learned(("reorder", str(pack.root), pack.grammar, program.code, word, assign, block),
                         lambda: swappable(tree))
        if not pairs:
            return None
        a, b = rng.choice(pairs)
        code = splice(tree.data, [(a.start_byte, a.end_byte, tree.text(b)), (b.start_byte, b.end_byte, tree.text(a))])
        if read(code, pack.grammar).root.has_error:
            return None
        return code, {"line": a.start_point[0] + 1, "swapped": [tree.text(a)[:60], tree.text(b)[:60]]}

    yield from _emit(source, params, seed, "reorder", make)


# ---------------------------------------------------------------- for -> while

def for_while(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (50). Needs `[synthesis.numeric_for]`: `loop` (node type), field paths
    `var`, `start`, `stop`, `step`, `body` from the loop node (`clause.name`), the `as_while`
    template with {var} {start} {stop} {step} {body} {counter} {limit} {compare}, and the
    comparison operators `up` / `down` for positive and negative steps."""
    pack = source.pack
    config = synthesis_config(pack, params)
    shape = config.get("numeric_for")
    if not isinstance(shape, dict) or not shape.get("as_while") or not shape.get("loop"):
        return
    word = word_type(pack.grammar, config)

    def part(node, path: str):
        for name in path.split("."):
            if node is None:
                return None
            node = node.child_by_field_name(name)
        return node

    def make(program: Program, tree: Tree, rng: random.Random):
        key = (str(pack.root), pack.grammar, program.code, word, repr(sorted(shape.items())))
        loops = list(_learned(("for_while", *key), lambda: [
            n for n in walk(tree.root) if n.type == shape["loop"] and part(n, shape.get("var", "")) is not None
            and part(n, shape.get("body", "body")) is not None]))
        rng.shuffle(loops)
        taken = set(_learned(("names", pack.grammar, program.code, word),
                             lambda: frozenset(tree.text(n) for n in walk(tree.root) if n.type == word)))
        for loop in loops:
            var, start, stop = (part(loop, shape.get(k, "")) for k in ("var", "start", "stop"))
            step, body = part(loop, shape.get("step", "")), part(loop, shape.get("body", "body"))
            if None in (var, start, stop):
                continue
            step_text = tree.text(step) if step is not None else "1"
            number = step_text.replace(" ", "")
            if not NUMBER_TEXT.match(number.lstrip("-")) or float(number) == 0:
                continue
            name = tree.text(var)
            counter = _fresh(name + "_next", taken)
            limit = _fresh(name + "_last", taken)
            loop_indent = column_of(tree, loop)
            # Indent the template before filling it: the body's own line breaks (a long
            # string's among them) must not be re-indented.
            template = shape["as_while"].strip("\n").replace("\n", "\n" + loop_indent)
            lines = template.split("\n")
            body_line = next((line for line in lines if "{body}" in line), None)
            if body_line is None:
                continue
            body_column = len(body_line) - len(body_line.lstrip())
            body_start_column = len(tree.data[tree.data.rfind(b"\n", 0, body.start_byte) + 1:body.start_byte]
                                    .decode("utf-8", "replace"))
            body_text = indented(tree, body, body_column - body_start_column)
            rendered = fill(template, var=name, start=tree.text(start), stop=tree.text(stop), step=step_text,
                            counter=counter, limit=limit, body=body_text,
                            compare=shape.get("down", ">=") if number.startswith("-") else shape.get("up", "<="))
            code = splice(tree.data, [(loop.start_byte, loop.end_byte, rendered)])
            if read(code, pack.grammar).root.has_error:
                continue
            return code, {"line": loop.start_point[0] + 1, "var": name}
        return None

    yield from _emit(source, params, seed, "for_while", make)


def _fresh(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate
