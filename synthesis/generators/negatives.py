"""Negatives: mutations of working programs that must fail, each labelled with its error class.

`mutate(source, params, seed)` breaks runnable examples and training-task references in one
place that will actually execute, and says how it must fail:

- `drop_closer`   a closing token (`)`, `end`, `}`, a closing quote) removed → syntax error;
- `misspell_call` a called function's name misspelled → the runner's undefined-name class;
- `misspell_field_call` a library function's name misspelled (`string.rpe`) → calling nil;
- `misspell_object` the table/object of an index misspelled (`strng.format`) → indexing nil;
- `no_args`       a library function called with no arguments → its bad-argument class;
- `operand_type`  an operand of a binary operator replaced by a value it rejects
                  (`total + {}`, `s .. nil`, `n < {}`) → arithmetic/concat/compare class;
- `unary_type`    the operand of a prefix operator replaced likewise (`#1`, `-{}`).

Which class each runtime mutation raises is not written down per language: it is asked of
the runner with tiny probe programs (`runner_probes`), printed with the `[synthesis]`
`print` template. Without that template only syntax negatives are made.

"Will actually execute" means: straight-line top-level code, or the direct statements of a
top-level function that straight-line code (or a task's tests) calls — never inside a nested
block, a function nobody calls, or the right side of a short-circuit operator.
"""
from __future__ import annotations

import random
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

from sandbox.testcompiler import literal
from synthesis.candidates import Candidate, Source
from synthesis.generators import runner_probes
from synthesis.generators.programs import Program, source_programs
from synthesis.generators.subtrees import (
    Tree, binary_parts, closers, humanize, is_field_name, read, replaced_cleanly, splice, unary_parts, walk,
    word_type,
)
from synthesis.generators.synthesis_table import fill, synthesis_config

KINDS = ("drop_closer", "misspell_call", "misspell_field_call", "misspell_object", "no_args", "operand_type",
         "unary_type")
SHORT_CIRCUIT = {"&&", "||", "??"}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
UNDEFINED = "zq_undefined_name"

# What each error class means, for explanations; a class the pack names otherwise gets the
# generic sentence.
CLASS_REASON = {
    "arithmetic_type": "arithmetic needs numbers",
    "concat_type": "concatenation needs strings or numbers",
    "compare_type": "an ordering comparison needs two numbers or two strings",
    "length_type": "only strings and tables have a length",
    "index_type": "only tables (and strings) can be indexed",
    "call_type": "only functions can be called",
    "undefined_name": "the name is not defined anywhere",
    "bad_argument": "the function checks its arguments",
}


@dataclass
class _Site:
    kind: str
    program: Program
    tree: Tree
    node: object
    extra: object = None


def mutate(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (50), kinds (all of KINDS), include_accepted (False): accepted samples
    are not known to run, so by default only examples and training references are broken."""
    rng = random.Random(seed)
    count = int(params.get("count", 50))
    pack = source.pack
    config = synthesis_config(pack, params)
    kinds = [k for k in params.get("kinds", KINDS) if k in KINDS]
    printer = config.get("print")
    if not printer:
        kinds = [k for k in kinds if k == "drop_closer"]
    programs = source_programs(source, params, accepted=bool(params.get("include_accepted")))
    breaker, viable = _prepared(source, params, config, printer, kinds, programs)
    sites = {kind: list(found) for kind, found in viable.items()}

    for kind in kinds:
        rng.shuffle(sites[kind])
    order = [k for k in kinds if sites[k]]
    seen: set[str] = set()
    emitted, cursor = 0, {k: 0 for k in kinds}
    while emitted < count and order:
        for kind in list(order):
            if emitted >= count:
                break
            if cursor[kind] >= len(sites[kind]):
                order.remove(kind)
                continue
            site = sites[kind][cursor[kind]]
            cursor[kind] += 1
            made = breaker.apply(site, rng)
            if made is None or made.code in seen:
                continue
            seen.add(made.code)
            emitted += 1
            yield made


# Breakers with their viable sites, by what they were found from. Finding every site of
# every program (and asking the runner about them) is a function of the pack, the
# parameters and the programs, and it was most of this generator's CPU; a worker runs job
# after job on one pack. Sites and trees are only read after they are found.
_PREPARED: "OrderedDict[tuple, tuple]" = OrderedDict()
_PREPARED_LIMIT = 8
_prepared_lock = threading.Lock()


def _prepared(source: Source, params: dict, config: dict, printer, kinds: list[str], programs: list[Program]):
    pack = source.pack
    key = (str(pack.root), getattr(source.content, "digest", None), tuple(pack.command), pack.grammar,
           repr(sorted((k, v) for k, v in params.items() if k not in ("count", "backend"))), tuple(kinds),
           tuple((p.parent, p.code, p.entry_point) for p in programs))
    with _prepared_lock:
        if key in _PREPARED:
            _PREPARED.move_to_end(key)
            return _PREPARED[key]
    breaker = _Breaker(pack, config, printer, word_type(pack.grammar, config))
    sites: dict[str, list[_Site]] = {k: [] for k in kinds}
    for program in programs:
        tree = read(program.code, pack.grammar)
        if tree.root.has_error:
            continue
        reach = _Reach(tree, breaker, {program.entry_point} if program.entry_point else set())
        for site in breaker.sites(program, tree, reach, kinds):
            sites[site.kind].append(site)
    breaker.learn_classes(sites)
    prepared = breaker, {kind: [s for s in found if breaker.viable(s)] for kind, found in sites.items()}
    with _prepared_lock:
        _PREPARED[key] = prepared
        while len(_PREPARED) > _PREPARED_LIMIT:
            _PREPARED.popitem(last=False)
    return prepared


class _Reach:
    """Which nodes of a program run for sure when it runs (see the module docstring)."""

    def __init__(self, tree: Tree, breaker: "_Breaker", entry_points: set[str]):
        self.tree, self.b = tree, breaker
        self.functions = {}  # name key -> top-level function node
        for node in walk(tree.root):
            if breaker.is_function(node) and self._top_level(node):
                key = self._function_key(node)
                if key:
                    self.functions.setdefault(key, node)
        self.called = set(entry_points)
        for _ in range(4):
            before = len(self.called)
            for node in walk(tree.root):
                call = breaker.call_parts(node)
                if call and self._runs(node):
                    key = breaker.callee_key(tree, call[0])
                    if key:
                        self.called.add(key)
            if len(self.called) == before:
                break

    def _top_level(self, node) -> bool:
        return not any(a.type == self.b.block or self.b.is_function(a) for a in _ancestors(node))

    def _function_key(self, node) -> str | None:
        name = node.child_by_field_name("name")
        if name is None:
            return None
        words = [n for n in walk(name) if n.type == self.b.word]
        return self.tree.text(words[-1]) if words else None

    def _runs(self, node) -> bool:
        chain = _ancestors(node)
        for child, parent in zip([node] + chain, chain):
            parts = binary_parts(parent, self.b.binary_ops)
            if parts and child.id == parts[2].id and (parts[1].type in self.b.keywords
                                                      or parts[1].type in SHORT_CIRCUIT):
                return False
        blocks = [a for a in chain if a.type == self.b.block]
        functions = [a for a in chain if self.b.is_function(a)]
        if not blocks and not functions:
            return True
        if len(blocks) == 1 and len(functions) == 1 and blocks[0].parent is not None \
                and blocks[0].parent.id == functions[0].id and self._top_level(functions[0]):
            return self._function_key(functions[0]) in self.called
        return False

    def runs(self, node) -> bool:
        return self._runs(node)


def _ancestors(node) -> list:
    out, current = [], node.parent
    while current is not None:
        out.append(current)
        current = current.parent
    return out


class _Breaker:
    def __init__(self, pack, config: dict, printer: str | None, word: str):
        self.pack, self.config, self.printer, self.word = pack, config, printer, word
        self.keywords = frozenset(pack.keywords)
        self.builtins = frozenset(pack.builtins)
        self.operators = frozenset(pack.operators)
        self.binary_ops = self.operators | self.keywords
        self.block = config.get("block", "block")
        self.function_types = set(config.get("function_types", []))
        spec = pack.tests
        self.bad_values = [literal(spec, None), literal(spec, []), literal(spec, "text"), literal(spec, 1)]
        self.classes: dict[tuple, str] = {}
        self._taken: dict[int, frozenset[str]] = {}  # names of each program's tree, by id (trees outlive it)

    # ---- shapes

    def is_function(self, node) -> bool:
        if self.function_types:
            return node.type in self.function_types
        return node.is_named and any("parameter" in c.type for c in node.named_children)

    def call_parts(self, node):
        """(callee, arguments) when `node` is a call with a parenthesised argument list."""
        if not node.is_named or node.named_child_count != 2 or node.child_count != 2:
            return None
        callee, args = node.children
        if args.child_count >= 2 and args.children[0].type == "(" and args.children[-1].type == ")" \
                and not self.is_function(node):
            return callee, args
        return None

    def callee_key(self, tree: Tree, callee) -> str | None:
        words = [n for n in walk(callee) if n.type == self.word]
        return tree.text(words[-1]) if words else None

    def dotted_builtin(self, tree: Tree, callee) -> list | None:
        """The words of `lib.fn` / `fn` when it is a library path rooted at a builtin."""
        leaves = [n for n in walk(callee) if n.child_count == 0]
        if not leaves or leaves[0].type != self.word or tree.text(leaves[0]) not in self.builtins:
            return None
        for i, leaf in enumerate(leaves):
            if (i % 2 == 0 and leaf.type != self.word) or (i % 2 == 1 and leaf.type != "."):
                return None
        return leaves[::2] if len(leaves) % 2 == 1 else None

    # ---- sites

    def sites(self, program: Program, tree: Tree, reach: _Reach, kinds: list[str]):
        if "drop_closer" in kinds:
            for node, token in closers(tree.root):
                if not node.is_extra:
                    yield _Site("drop_closer", program, tree, node, token)
        for node in walk(tree.root):
            call = self.call_parts(node)
            if call and reach.runs(node):
                callee, args = call
                if "misspell_call" in kinds and callee.type == self.word and tree.text(callee) not in self.keywords:
                    yield _Site("misspell_call", program, tree, callee)
                path = self.dotted_builtin(tree, callee)
                if path and len(path) >= 2 and "misspell_field_call" in kinds:
                    yield _Site("misspell_field_call", program, tree, path[-1], path)
                if path and args.named_child_count and "no_args" in kinds:
                    yield _Site("no_args", program, tree, node, (callee, args))
            if node.type == self.word and "misspell_object" in kinds and not is_field_name(tree, node):
                following = node.next_sibling
                if following is not None and not following.is_named and following.type in (".", "[", ":") \
                        and tree.text(node) not in self.keywords and reach.runs(node):
                    yield _Site("misspell_object", program, tree, node, following.type)
            if "operand_type" in kinds:
                parts = binary_parts(node, self.binary_ops)
                if parts and parts[1].type != "=" and reach.runs(node):
                    yield _Site("operand_type", program, tree, node, parts)
            if "unary_type" in kinds:
                parts = unary_parts(node, self.operators, self.keywords)
                if parts and reach.runs(node):
                    yield _Site("unary_type", program, tree, node, parts)

    # ---- what the runner says

    def _print(self, expression: str) -> str:
        return fill(self.printer, value=expression)

    def learn_classes(self, sites: dict[str, list[_Site]]) -> None:
        """Ask the runner which error class each needed probe raises."""
        if not self.printer:
            return
        probes: dict[tuple, list[str]] = {
            ("misspell_call",): [self._print(f"{UNDEFINED}(1)")],
            ("misspell_object",): [self._print(f"{UNDEFINED}.field")],
        }
        lefts = [literal(self.pack.tests, 2), literal(self.pack.tests, 2.5), literal(self.pack.tests, "s"),
                 literal(self.pack.tests, [1])]
        for site in sites.get("operand_type", []):
            op = site.extra[1].type
            for value in self.bad_values[:2]:
                probes.setdefault(("operand_type", op, value), [self._print(f"{left} {op} {value}") for left in lefts])
        for site in sites.get("unary_type", []):
            op = site.extra[0].type
            spacer = " " if op[-1:].isalnum() else ""
            for value in self.bad_values:
                probes.setdefault(("unary_type", op, value), [self._print(f"{op}{spacer}{value}")])
        for site in sites.get("no_args", []) + sites.get("misspell_field_call", []):
            tree = site.tree
            if site.kind == "no_args":
                callee = tree.text(site.extra[0])
                probes.setdefault(("no_args", callee), [self._print(f"{callee}()")])
            else:
                path = [tree.text(n) for n in site.extra]
                probes.setdefault(("misspell_field_call", ".".join(path[:-1])),
                                  [self._print(".".join(path[:-1]) + f".{UNDEFINED}()")])
        keys = list(probes)
        answers = runner_probes.ask(self.pack, [p for k in keys for p in probes[k]])
        position = 0
        for key in keys:
            chunk = answers[position:position + len(probes[key])]
            position += len(probes[key])
            types = {a.error_type for a in chunk}
            if all(a.verdict == "runtime_error" for a in chunk) and len(types) == 1:
                error_type = types.pop()
                if error_type and error_type != "error":
                    self.classes[key] = error_type

    def viable(self, site: _Site) -> bool:
        """Whether the runner was seen to fail the way this mutation needs."""
        tree = site.tree
        if site.kind == "drop_closer":
            return True
        if site.kind in ("misspell_call", "misspell_object"):
            return (site.kind,) in self.classes
        if site.kind == "misspell_field_call":
            return ("misspell_field_call", ".".join(tree.text(n) for n in site.extra[:-1])) in self.classes
        if site.kind == "no_args":
            return ("no_args", tree.text(site.extra[0])) in self.classes
        if site.kind == "operand_type":
            return any(("operand_type", site.extra[1].type, v) in self.classes for v in self.bad_values[:2])
        if site.kind == "unary_type":
            return any(("unary_type", site.extra[0].type, v) in self.classes for v in self.bad_values)
        return False

    # ---- mutations

    def apply(self, site: _Site, rng: random.Random) -> Candidate | None:
        method = getattr(self, "_" + site.kind)
        made = method(site, rng)
        if made is None:
            return None
        code, expect, error_type, explanation, detail = made
        program = site.program
        return Candidate(
            kind="negative", code=code, expect=expect, expect_error_type=error_type, fixed_code=program.code,
            explanation=explanation, parent=program.parent, tests=program.tests, entry_point=program.entry_point,
            metadata={"generator": "negatives.mutate", "mutation": site.kind, **detail},
        )

    def _drop_closer(self, site: _Site, rng):
        tree, node, token = site.tree, site.node, site.extra
        code = splice(tree.data, [(token.start_byte, token.end_byte, "")])
        if not read(code, self.pack.grammar).root.has_error:
            return None
        text, what = tree.text(token), humanize(node.type)
        opener = tree.text(node.children[0])
        line = node.start_point[0] + 1
        following = re.match(rb"\s*(\S{1,12})", tree.data[token.end_byte:])
        if following:
            where_line = tree.data[:token.end_byte + following.start(1)].count(b"\n") + 1
            where = f"`{following.group(1).decode('utf-8', 'replace')}` on line {where_line}"
        else:
            where = "the end of the program"
        explanation = (f"The `{text}` matching the `{opener}` on line {line} is missing, so the parser reaches "
                       f"{where} still inside the {what}; putting `{text}` back on line "
                       f"{token.start_point[0] + 1} closes it.")
        return code, "syntax_error", "syntax", explanation, {"token": text, "node": node.type,
                                                             "line": token.start_point[0] + 1}

    def _misspelling(self, tree: Tree, good: str, rng) -> str | None:
        taken = self._taken.get(id(tree))
        if taken is None:
            taken = self._taken[id(tree)] = frozenset(
                {tree.text(n) for n in walk(tree.root) if n.type == self.word} | self.keywords | self.builtins)
        options = []
        for i in range(len(good) - 1):
            if good[i] != good[i + 1]:
                options.append(good[:i] + good[i + 1] + good[i] + good[i + 2:])  # swap two letters
        if len(good) > 3:
            options += [good[:i] + good[i + 1:] for i in range(1, len(good))]  # drop one
        options += [good[:i] + good[i] + good[i:] for i in range(1, len(good))]  # double one
        options = [o for o in dict.fromkeys(options) if NAME.match(o) and o not in taken and o != good]
        return rng.choice(options) if options else None

    def _rename_at(self, site: _Site, node, rng, kind_key: tuple):
        error_type = self.classes.get(kind_key)
        if not error_type:
            return None
        tree = site.tree
        good = tree.text(node)
        bad = self._misspelling(tree, good, rng)
        if bad is None:
            return None
        code = splice(tree.data, [(node.start_byte, node.end_byte, bad)])
        if not replaced_cleanly(code, self.pack.grammar, node.start_byte, bad, {self.word}):
            return None
        return code, good, bad, error_type

    def _misspell_call(self, site: _Site, rng):
        made = self._rename_at(site, site.node, rng, ("misspell_call",))
        if made is None:
            return None
        code, good, bad, error_type = made
        line = site.node.start_point[0] + 1
        explanation = (f"`{bad}` is called on line {line}, but nothing by that name is defined — it is a misspelling "
                       f"of `{good}`, so there is no function to call; spelling it `{good}` calls the intended "
                       f"function.")
        return code, "runtime_error", error_type, explanation, {"name": good, "misspelled": bad, "line": line}

    def _misspell_field_call(self, site: _Site, rng):
        tree = site.tree
        owner = ".".join(tree.text(n) for n in site.extra[:-1])
        made = self._rename_at(site, site.node, rng, ("misspell_field_call", owner))
        if made is None:
            return None
        code, good, bad, error_type = made
        line = site.node.start_point[0] + 1
        explanation = (f"`{owner}.{bad}` on line {line} does not exist — `{bad}` is a misspelling of `{good}` — so "
                       f"the lookup gives nothing callable and the call fails; writing `{owner}.{good}` calls the "
                       f"library function that was meant.")
        return code, "runtime_error", error_type, explanation, {"name": f"{owner}.{good}", "misspelled": bad,
                                                                "line": line}

    def _misspell_object(self, site: _Site, rng):
        made = self._rename_at(site, site.node, rng, ("misspell_object",))
        if made is None:
            return None
        code, good, bad, error_type = made
        line = site.node.start_point[0] + 1
        explanation = (f"`{bad}` on line {line} is not defined — it is a misspelling of `{good}` — so indexing it "
                       f"with `{site.extra}` looks inside a value that does not exist; spelling it `{good}` "
                       f"indexes the intended value.")
        return code, "runtime_error", error_type, explanation, {"name": good, "misspelled": bad, "line": line}

    def _no_args(self, site: _Site, rng):
        tree = site.tree
        callee, args = site.extra
        name = tree.text(callee)
        error_type = self.classes.get(("no_args", name))
        if not error_type:
            return None
        code = splice(tree.data, [(args.start_byte, args.end_byte, "()")])
        if read(code, self.pack.grammar).root.has_error:
            return None
        line = site.node.start_point[0] + 1
        original = tree.text(args)
        explanation = (f"`{name}` is called with no arguments on line {line}, but it requires them, so it rejects "
                       f"the missing first argument; passing `{original}` as before gives it what it needs.")
        return code, "runtime_error", error_type, explanation, {"name": name, "line": line}

    def _operand_type(self, site: _Site, rng):
        tree = site.tree
        left, op, right = site.extra
        options = [(v, self.classes[("operand_type", op.type, v)]) for v in self.bad_values[:2]
                   if ("operand_type", op.type, v) in self.classes]
        if not options:
            return None
        value, error_type = rng.choice(options)
        code = splice(tree.data, [(right.start_byte, right.end_byte, value)])
        if not replaced_cleanly(code, self.pack.grammar, right.start_byte, value, _any_kind):
            return None
        line = site.node.start_point[0] + 1
        reason = CLASS_REASON.get(error_type, f"`{op.type}` does not accept it")
        explanation = (f"On line {line} the right operand of `{op.type}` is `{value}`, which `{op.type}` cannot "
                       f"take ({reason}), so `{tree.text(left)} {op.type} {value}` fails when it runs; using "
                       f"`{tree.text(right)}` as the operand again, as intended, fixes it.")
        return code, "runtime_error", error_type, explanation, {"operator": op.type, "operand": value, "line": line}

    def _unary_type(self, site: _Site, rng):
        tree = site.tree
        op, operand = site.extra
        options = [(v, self.classes[("unary_type", op.type, v)]) for v in self.bad_values
                   if ("unary_type", op.type, v) in self.classes]
        if not options:
            return None
        value, error_type = rng.choice(options)
        code = splice(tree.data, [(operand.start_byte, operand.end_byte, value)])
        if not replaced_cleanly(code, self.pack.grammar, operand.start_byte, value, _any_kind):
            return None
        line = site.node.start_point[0] + 1
        reason = CLASS_REASON.get(error_type, f"`{op.type}` does not accept it")
        explanation = (f"On line {line} `{op.type}` is applied to `{value}`, which it cannot take ({reason}); "
                       f"applying it to `{tree.text(operand)}` as intended fixes it.")
        return code, "runtime_error", error_type, explanation, {"operator": op.type, "operand": value, "line": line}


class _AnyKind:
    def __contains__(self, item) -> bool:
        return True


_any_kind = _AnyKind()
