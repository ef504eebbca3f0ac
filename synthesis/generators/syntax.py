"""Grammar-aware synthesis: recombine and mutate parsed programs, and draw new ones from the grammar.

Three generators, all `(source, params, seed) -> Iterator[Candidate]` of kind "syntax" that
expect "ok" (the pipeline keeps what runs and records its output):

- `recombine` swaps a subtree for another of the same node type taken from any program of
  the pack (examples, training-task references, accepted samples);
- `mutate` pushes one construct to an edge: literal edges (0, ±1, 2^53 and 2^53+1, the
  64-bit extremes, empty strings, strings with quotes and escapes), an operator swapped for
  another of the same arity (operands parenthesised so the precedence stays visible),
  deeper nesting, and a block wrapped in a new scope that shadows a name;
- `from_grammar` expands the pack's `grammar/grammar.json` (tree-sitter's) to a bounded
  depth, with names and literals taken from the examples.

Every emitted program parses without an ERROR node; the rest are dropped here.
"""
from __future__ import annotations

import random
import threading
from bisect import bisect_left
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Iterator

from sandbox.testcompiler import literal
from synthesis.candidates import Candidate, Source
from synthesis.generators.grammar_expansion import Expander, ExpansionFailed, grammar_wrappers, load_grammar
from synthesis.generators.programs import Program, source_programs
from synthesis.generators.subtrees import (
    NUMBER_TEXT, Tree, Wrapper, binary_parts, column_of, field_of, indented, is_atomic, is_field_name,
    is_key_position, literal_children, parses, read, replaced_cleanly, cleanly_replaced_tree, splice, unary_parts,
    walk, word_type, wrappers,
)
from synthesis.generators.synthesis_table import fill, synthesis_config

# Integers at the edges of the usual machine types, and the float edges (2^53 is where
# doubles stop counting by one; 2^53 + 1 is the first integer a double cannot hold).
NUMBER_EDGES = ["0", "1", "-1", "2", "-2", "255", "256", "65535", "2147483647", "2147483648", "-2147483648",
                "4294967296", "9007199254740992", "9007199254740993", "-9007199254740993", "9223372036854775807",
                "-9223372036854775807", "9223372036854775808", "0.0", "0.5", "0.1", "1e308", "1e-308", "1e309",
                "-0.0", "3.14159"]
STRING_EDGES = ["", " ", "a", 'say "hi"', "it's", "back\\slash", "tab\there", "two\nlines", "\\n is not a newline",
                "%d %s %%", "ünïcødé ✓", "0", "-1", "nil", "x" * 200]


@dataclass
class _Corpus:
    source: Source
    params: dict
    grammar: str
    config: dict
    word: str
    keywords: frozenset[str]
    builtins: frozenset[str]
    operators: frozenset[str]
    programs: list[tuple[Program, Tree]] = field(default_factory=list)

    # What one corpus learns once for every generator call that shares it (see `shared`).
    learned: dict = field(default_factory=dict)

    @classmethod
    def build(cls, source: Source, params: dict) -> "_Corpus":
        """The parsed programs, shared between calls on the same pack content, programs and
        parameters (a worker runs job after job on one pack; parsing and indexing the corpus
        was a fixed cost of each). Read-only after it is built, but for `learned`."""
        pack = source.pack
        programs = source_programs(source, params)
        key = (str(pack.root), getattr(source.content, "digest", None), pack.grammar,
               repr(sorted((k, v) for k, v in params.items() if k not in _CALL_PARAMS)),
               tuple((p.parent, p.code) for p in programs))
        with _corpora_lock:
            corpus = _CORPORA.get(key)
            if corpus is not None:
                _CORPORA.move_to_end(key)
                return corpus
        config = synthesis_config(pack, params)
        corpus = cls(source, params, pack.grammar, config, word_type(pack.grammar, config),
                     frozenset(pack.keywords), frozenset(pack.builtins), frozenset(pack.operators))
        for program in programs:
            tree = read(program.code, pack.grammar)
            if not tree.root.has_error:
                corpus.programs.append((program, tree))
        with _corpora_lock:
            _CORPORA[key] = corpus
            while len(_CORPORA) > _CORPORA_LIMIT:
                _CORPORA.popitem(last=False)
        return corpus

    def shared(self, what, make):
        """make() once per corpus for `what` (a hashable description of it and its inputs)."""
        with _corpora_lock:
            if what in self.learned:
                return self.learned[what]
        value = make()
        with _corpora_lock:
            return self.learned.setdefault(what, value)

    @property
    def trees(self) -> list[Tree]:
        return [t for _, t in self.programs]

    def names_in(self, tree: Tree, node) -> set[str]:
        return {tree.text(n) for n in walk(node) if n.type == self.word}

    @property
    def binary_operators(self) -> frozenset[str]:
        return self.operators | self.keywords


# Parameters that change what a call draws from a corpus, not the corpus itself.
_CALL_PARAMS = frozenset({"count", "max_attempts", "backend"})
_CORPORA: "OrderedDict[tuple, _Corpus]" = OrderedDict()
_CORPORA_LIMIT = 8
_corpora_lock = threading.Lock()


def _candidate(program: Program, code: str, generator: str, **metadata) -> Candidate:
    return Candidate(kind="syntax", code=code, parent=program.parent, expect="ok",
                     metadata={"generator": generator, **metadata})


def _max_attempts(count: int, params: dict) -> int:
    return int(params.get("max_attempts", count * 30 + 50))


# ---------------------------------------------------------------- recombine

def recombine(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (50), max_swaps (2), max_chars (300) of a donor subtree, hygiene (0.85):
    the chance that a donor may only use names the receiving program already has (so it
    is more likely to run)."""
    rng = random.Random(seed)
    count = int(params.get("count", 50))
    max_swaps = max(1, int(params.get("max_swaps", 2)))
    max_chars = int(params.get("max_chars", 300))
    hygiene = float(params.get("hygiene", 0.85))
    corpus = _Corpus.build(source, params)
    if not corpus.programs:
        return

    skip = {corpus.word}
    donor_lists = corpus.shared(("donors", max_chars), lambda: _donors(corpus, skip, max_chars))

    seen = {program.code for program, _ in corpus.programs}
    kinds = frozenset(donor_lists)
    # Per source program, computed on first use and reused by every later candidate drawn
    # from it (most candidates start from the same few dozen programs), in this job and
    # the next ones on the corpus: its names, its swap sites, and the donor options per
    # site text. Measured: re-walking the tree for these on every attempt was most of this
    # generator's CPU.
    known_of: dict[str, frozenset[str]] = corpus.shared("known", dict)
    sites_of: dict[str, list[tuple]] = corpus.shared(("sites", max_chars), dict)
    options_of: dict[tuple, tuple[list, list]] = corpus.shared(("options", max_chars), dict)
    emitted = 0
    for _ in range(_max_attempts(count, params)):
        if emitted >= count:
            break
        program, tree = rng.choice(corpus.programs)
        known = known_of.get(program.code)
        if known is None:
            known = known_of[program.code] = frozenset(corpus.names_in(tree, tree.root)) | corpus.builtins \
                | corpus.keywords
        code, swaps = program.code, []
        current, sites = tree, sites_of.get(program.code)
        for _swap in range(rng.randint(1, max_swaps)):
            if sites is None:
                sites = _swap_sites(current, kinds, skip)
                if current is tree:
                    sites_of[program.code] = sites
            if not sites:
                break
            kind, start, end, row, _node = rng.choice(sites)
            here = current.data[start:end].decode("utf-8", "replace")
            choices = options_of.get((program.code, kind, here))
            if choices is None:
                every = [(t, names) for t, names in donor_lists[kind] if t != here]
                clean = [(t, names) for t, names in every if names <= known] or every
                choices = options_of[(program.code, kind, here)] = (every, clean)
            options = choices[1] if rng.random() < hygiene else choices[0]
            if not options:
                continue
            text, _names = rng.choice(options)
            new_code = splice(current.data, [(start, end, text)])
            # The tree that checked the swap is the next swap's tree: one parse, not two.
            new_tree = cleanly_replaced_tree(new_code, corpus.grammar, start, text, {kind})
            if new_tree is not None:
                code, current, sites = new_code, new_tree, None
                swaps.append({"node": kind, "line": row + 1})
        if swaps and code not in seen:
            seen.add(code)
            emitted += 1
            yield _candidate(program, code, "syntax.recombine", swaps=swaps)


def _donors(corpus: _Corpus, skip: set[str], max_chars: int) -> dict[str, list[tuple[str, frozenset[str]]]]:
    """Per node type, the distinct subtree texts of the corpus (up to max_chars) with the
    names each uses; only types with at least two."""
    donors: dict[str, dict[str, frozenset[str]]] = {}
    for tree in corpus.trees:
        names = _NamesBySpan(corpus, tree)
        for kind, start, end, _row, node in _swap_sites(tree, None, skip):
            if end - start <= 4 * max_chars:  # a cheap bound before decoding: UTF-8 is at most 4 bytes a character
                text = tree.data[start:end].decode("utf-8", "replace")
                if len(text) <= max_chars:
                    donors.setdefault(kind, {})[text] = names.within(node)
    return {kind: list(texts.items()) for kind, texts in donors.items() if len(texts) >= 2}


def _swap_sites(tree: Tree, kinds: frozenset[str] | None, skip: set[str]) -> list[tuple]:
    """(type, start byte, end byte, row, node) of every subtree that may be swapped for
    another of its type (`kinds`; any type when None), in `walk` order: named, not an extra,
    without errors, not empty, not the root, not of a `skip` type, and not the content of
    a string or comment (a child of an atomic node of several children). One pass that
    judges each parent once for all its children."""
    out = []
    stack = _children_of(tree.root)
    stack.reverse()
    while stack:
        node, blocked = stack.pop()
        kind = node.type
        if (kinds is None or kind in kinds) and not blocked and kind not in skip and node.is_named \
                and not node.is_extra and not node.has_error and node.end_byte > node.start_byte:
            out.append((kind, node.start_byte, node.end_byte, node.start_point[0], node))
        children = _children_of(node)
        if children:
            children.reverse()
            stack.extend(children)
    return out


class _NamesBySpan:
    """The names (`word` nodes) of a tree by position, so the names inside a node are a
    slice rather than a walk of its subtree (`_Corpus.names_in` once per node was quadratic
    in the nesting depth). Exact where names are leaves (a leaf inside a node's span is
    its descendant); a grammar whose names have children gets `names_in`."""

    def __init__(self, corpus: _Corpus, tree: Tree):
        self.corpus, self.tree = corpus, tree
        words = [n for n in walk(tree.root) if n.type == corpus.word]
        self.leaves = all(n.child_count == 0 for n in words)
        self.spans = sorted((n.start_byte, n.end_byte, tree.text(n)) for n in words)
        self.starts = [span[0] for span in self.spans]

    def within(self, node) -> frozenset[str]:
        if not self.leaves:
            return frozenset(self.corpus.names_in(self.tree, node))
        start, end = node.start_byte, node.end_byte
        out = set()
        for index in range(bisect_left(self.starts, start), len(self.spans)):
            s, e, text = self.spans[index]
            if s >= end:
                break
            if e <= end:
                out.add(text)
        return frozenset(out)


def _children_of(node) -> list:
    """The node's children, each with whether it lies inside an atomic node of several
    children (the content of a string or comment, never swapped)."""
    children = node.children
    if not children:
        return []
    # is_atomic(node), without fetching the children a second time
    blocked = len(children) > 1 and (node.is_extra or literal_children(children))
    return [(child, blocked) for child in children]


# ---------------------------------------------------------------- mutate

MUTATIONS = ("literal_edge", "operator_swap", "nesting", "shadowing")


def mutate(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (50), mutations (all of MUTATIONS), max_depth (4) for nesting.

    `shadowing` needs the `[synthesis]` template `declare` ("local {name} = {value}" in
    Lua); the scope that wraps the block is the one the examples use (`do ... end`)."""
    rng = random.Random(seed)
    count = int(params.get("count", 50))
    kinds = [k for k in params.get("mutations", MUTATIONS) if k in MUTATIONS]
    corpus = _Corpus.build(source, params)
    if not corpus.programs or not kinds:
        return
    shapes = corpus.shared("shapes", lambda: _Shapes.learn(corpus))
    seen = {program.code for program, _ in corpus.programs}
    emitted = 0
    for attempt in range(_max_attempts(count, params)):
        if emitted >= count:
            break
        kind = kinds[attempt % len(kinds)]
        program, tree = rng.choice(corpus.programs)
        made = getattr(shapes, kind)(tree, rng)
        if made is None:
            continue
        code, detail = made
        if code in seen or not parses(code, corpus.grammar):
            continue
        seen.add(code)
        emitted += 1
        yield _candidate(program, code, "syntax.mutate", mutation=kind, **detail)


@dataclass
class _Shapes:
    """What the corpus shows about the language's shapes: literal node types, operators
    per node type and arity, and the wrappers that parenthesise and open scopes."""
    corpus: _Corpus
    numbers: set[str]
    strings: set[str]
    booleans: dict[str, str]  # literal text -> node type, for true/false/null
    binary_ops: dict[str, list[str]]
    unary_ops: dict[str, list[str]]
    parens: Wrapper | None
    scope: Wrapper | None
    block: str | None
    max_depth: int
    unary_kinds: set[str]
    # Where each mutation can apply in each corpus tree, found on the first candidate drawn
    # from that tree: a job draws from the same few dozen trees hundreds of times.
    _sites: dict = field(default_factory=dict)

    def _sites_of(self, what, tree: Tree, find) -> list:
        key = (what, id(tree))
        found = self._sites.get(key)
        if found is None:
            found = self._sites[key] = find()
        return found

    @classmethod
    def learn(cls, corpus: _Corpus) -> "_Shapes":
        spec = corpus.source.pack.tests
        sample = literal(spec, "q")
        quote_open, quote_close = sample[:sample.index("q")], sample[sample.index("q") + 1:]
        numbers, strings, booleans = set(), set(), {}
        bool_texts = {literal(spec, v) for v in (True, False, None)}
        binary: dict[str, set[str]] = {}
        unary: dict[str, set[str]] = {}
        for tree in corpus.trees:
            for node in walk(tree.root):
                if not node.is_named or node.is_extra or _inside_token(node):
                    continue
                text = tree.text(node)
                if node.child_count == 0:
                    if NUMBER_TEXT.match(text):
                        numbers.add(node.type)
                    if text in bool_texts:
                        booleans[text] = node.type
                elif is_atomic(node) and quote_open and text.startswith(quote_open) and text.endswith(quote_close):
                    strings.add(node.type)
                parts = binary_parts(node, corpus.binary_operators)
                if parts:
                    binary.setdefault(node.type, set()).add(parts[1].type)
                parts = unary_parts(node, corpus.operators, corpus.keywords)
                if parts:
                    unary.setdefault(node.type, set()).add(parts[0].type)
        binary_ops = {k: sorted(v) for k, v in binary.items() if len(v) >= 2}
        block = corpus.config.get("block") or ("block" if _has_kind(corpus.grammar, "block") else None)
        found = wrappers(corpus.trees) + grammar_wrappers(load_grammar(corpus.source.pack.root))
        parens = _trial_wrapper(corpus, [w for w in found if w.child_kinds & set(binary_ops)],
                                lambda n: n.type in binary_ops)
        scope = _trial_wrapper(corpus, [w for w in found if block and block in w.child_kinds],
                               lambda n: n.type == block) if block else None
        return cls(corpus, numbers, strings, booleans, binary_ops,
                   {k: sorted(v) for k, v in unary.items() if len(v) >= 2},
                   parens, scope, block, int(corpus.params.get("max_depth", 4)), set(unary))

    # ---- literal edges

    def literal_edge(self, tree: Tree, rng: random.Random):
        spec = self.corpus.source.pack.tests
        sites = self._sites_of("literal_edge", tree, lambda: [
            n for n in walk(tree.root) if n.is_named and (n.type in self.numbers or n.type in self.strings
                                                          or tree.text(n) in self.booleans)
            and not (n.parent is not None and is_atomic(n.parent) and n.parent.child_count > 1)])
        if not sites:
            return None
        node = rng.choice(sites)
        original = tree.text(node)
        if node.type in self.numbers:
            value = rng.choice([v for v in NUMBER_EDGES if v != original])
            if value.startswith("-") and self.parens:
                value = self.parens.wrap(value)
            allowed = {node.type} | ({self.parens.kind} if self.parens else set()) | self.unary_kinds
        elif node.type in self.strings:
            value = literal(spec, rng.choice(STRING_EDGES))
            allowed = {node.type}
        else:
            value = rng.choice([t for t in self.booleans if t != original] or [original])
            allowed = set(self.booleans.values())
        code = splice(tree.data, [(node.start_byte, node.end_byte, value)])
        if not replaced_cleanly(code, self.corpus.grammar, node.start_byte, value, allowed):
            return None
        return code, {"node": node.type, "from": original[:40], "to": value[:40], "line": node.start_point[0] + 1}

    # ---- operators

    def operator_swap(self, tree: Tree, rng: random.Random):
        ops = self.corpus.binary_operators

        def find():
            sites = []
            for node in walk(tree.root):
                if node.type in self.binary_ops and binary_parts(node, ops):
                    sites.append(("binary", node))
                elif node.type in self.unary_ops and unary_parts(node, self.corpus.operators, self.corpus.keywords):
                    sites.append(("unary", node))
            return sites

        sites = self._sites_of("operator_swap", tree, find)
        if not sites:
            return None
        arity, node = rng.choice(sites)
        if arity == "binary":
            left, op, right = binary_parts(node, ops)
            new_op = rng.choice([o for o in self.binary_ops[node.type] if o != op.type])
            new_text = f"{self._operand(tree, left)} {new_op} {self._operand(tree, right)}"
        else:
            op, operand = unary_parts(node, self.corpus.operators, self.corpus.keywords)
            new_op = rng.choice([o for o in self.unary_ops[node.type] if o != op.type])
            spacer = " " if new_op[-1:].isalnum() or new_op == op.type else ""
            if new_op in ("-", "~") and tree.text(operand).startswith(new_op):
                spacer = " "
            new_text = f"{new_op}{spacer}{self._operand(tree, operand)}"
        parent_is_operation = node.parent is not None and (binary_parts(node.parent, ops) or unary_parts(
            node.parent, self.corpus.operators, self.corpus.keywords))
        if parent_is_operation and self.parens:
            new_text = self.parens.wrap(new_text)
        code = splice(tree.data, [(node.start_byte, node.end_byte, new_text)])
        allowed = {node.type} | ({self.parens.kind} if self.parens else set())
        if not replaced_cleanly(code, self.corpus.grammar, node.start_byte, new_text, allowed):
            return None
        return code, {"node": node.type, "from": op.type, "to": new_op, "line": node.start_point[0] + 1}

    def _operand(self, tree: Tree, node) -> str:
        """An operand that is itself an operation gets parentheses, so a swap to an operator
        of another precedence keeps the tree it had."""
        text = tree.text(node)
        ops = self.corpus.binary_operators
        if self.parens and (binary_parts(node, ops) or unary_parts(node, self.corpus.operators, self.corpus.keywords)):
            return self.parens.wrap(text)
        return text

    # ---- nesting

    def nesting(self, tree: Tree, rng: random.Random):
        depth = rng.randint(2, max(2, self.max_depth))

        def find():
            choices = []
            if self.parens:
                choices += [("parens", n) for n in walk(tree.root)
                            if n.type in self.parens.child_kinds and n.is_named and not n.is_extra]
            if self.scope and self.block:
                choices += [("scope", n) for n in walk(tree.root) if n.type == self.block and n.named_child_count]
            return choices

        choices = self._sites_of("nesting", tree, find)
        if not choices:
            return None
        how, node = rng.choice(choices)
        if how == "parens":
            new_text = tree.text(node)
            for _ in range(depth):
                new_text = self.parens.wrap(new_text)
            allowed = {self.parens.kind}
        else:
            indent = column_of(tree, node)
            step = "  "
            body = indented(tree, node, step * depth)
            new_text = body
            for level in range(depth - 1, -1, -1):
                new_text = self.scope.wrap_lines(new_text, indent + step * level, step)
            allowed = {self.scope.kind, self.block}
        code = splice(tree.data, [(node.start_byte, node.end_byte, new_text)])
        if not replaced_cleanly(code, self.corpus.grammar, node.start_byte, new_text, allowed):
            return None
        return code, {"node": node.type, "wrapper": how, "depth": depth, "line": node.start_point[0] + 1}

    # ---- scoping and shadowing

    def shadowing(self, tree: Tree, rng: random.Random):
        declare = self.corpus.config.get("declare")
        if not (declare and self.scope and self.block):
            return None
        c = self.corpus
        blocks = list(self._sites_of("shadowing", tree, lambda: [
            n for n in walk(tree.root) if n.type == self.block and n.named_child_count and n.parent is not None]))
        rng.shuffle(blocks)
        for block in blocks[:8]:
            names = self._sites_of(("shadowing", block.id), tree,
                                   lambda: self._shadowable(tree, block))
            if not names:
                continue
            name = rng.choice(names)
            value = name if rng.random() < 0.75 else literal(c.source.pack.tests, rng.choice([0, 1, -1, "", "x"]))
            indent = column_of(tree, block)
            step = "  "
            body = fill(declare, name=name, value=value) + "\n" + indent + step + indented(tree, block, step)
            new_text = self.scope.wrap_lines(body, indent, step)
            code = splice(tree.data, [(block.start_byte, block.end_byte, new_text)])
            if replaced_cleanly(code, c.grammar, block.start_byte, new_text, {self.scope.kind, self.block}):
                return code, {"node": block.type, "name": name, "shadow_value": value, "line": block.start_point[0] + 1}
        return None

    def _shadowable(self, tree: Tree, block) -> list[str]:
        """Names a block uses that were bound before it: those a new scope can shadow."""
        c = self.corpus
        earlier = {tree.text(n) for n in walk(tree.root) if n.type == c.word and n.end_byte <= block.start_byte}
        used = sorted({tree.text(n) for n in walk(block) if n.type == c.word and not is_field_name(tree, n)
                       and not is_key_position(n) and field_of(n) != "method"})
        return [n for n in used if n in earlier and n not in c.keywords and n not in c.builtins]

def _inside_token(node) -> bool:
    parent = node.parent
    return parent is not None and is_atomic(parent) and parent.child_count > 1


def _has_kind(grammar: str, kind: str) -> bool:
    from curation.grammar import language_for

    return bool(language_for(grammar).id_for_node_kind(kind, True))


def _trial_wrapper(corpus: _Corpus, options: list[Wrapper], target) -> Wrapper | None:
    """The wrapper that, put around a node `target` accepts, parses as itself: `(a + b)` in
    operand position is a parenthesised expression, not an argument list."""
    for wrapper in options:
        for tree in corpus.trees[:6]:
            node = next((n for n in walk(tree.root) if target(n) and n.parent is not None), None)
            if node is None:
                continue
            if wrapper.prefix[-1:].isalnum():
                text = wrapper.prefix + "\n" + tree.text(node) + "\n" + wrapper.suffix
            else:
                text = wrapper.wrap(tree.text(node))
            code = splice(tree.data, [(node.start_byte, node.end_byte, text)])
            if replaced_cleanly(code, corpus.grammar, node.start_byte, text, {wrapper.kind}):
                return wrapper
            break
    return None


# ---------------------------------------------------------------- from the grammar

def _grammar_pools(corpus: _Corpus, max_chars: int) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Per named node type, the corpus's distinct short texts (first seen first) that the
    expander may use as a terminal, and how often the type occurs."""
    pool: dict[str, dict[str, None]] = {}
    frequency: Counter = Counter()
    for tree in corpus.trees:
        for node in walk(tree.root):
            if not node.is_named or node.is_extra or node.has_error:
                continue
            frequency[node.type] += 1
            text = tree.text(node)
            if 0 < len(text) <= max_chars and (node.parent is None or not is_atomic(node.parent)
                                               or node.parent.child_count == 1):
                pool.setdefault(node.type, {})[text] = None
    pools = {k: list(v) for k, v in pool.items()}
    pools.pop(corpus.trees[0].root.type, None)
    return pools, dict(frequency)


def from_grammar(source: Source, params: dict, seed: int) -> Iterator[Candidate]:
    """params: count (50), max_depth (6) of rule expansion, max_tokens (200), max_chars (80)
    of an example subtree used as a terminal. Needs the pack's grammar/grammar.json; without
    it this generator yields nothing."""
    grammar_json = load_grammar(source.pack.root)
    if grammar_json is None:
        return
    rng = random.Random(seed)
    count = int(params.get("count", 50))
    corpus = _Corpus.build(source, params)
    if not corpus.programs:
        return
    max_chars = int(params.get("max_chars", 80))
    # Walking every node of the corpus was ~90% of a job's wait for its first candidate,
    # and its result depends on the corpus alone; the expander only reads it.
    pools, frequency = corpus.shared(("grammar_pools", max_chars), lambda: _grammar_pools(corpus, max_chars))
    expander = Expander(grammar_json, pools, frequency, rng, max_depth=int(params.get("max_depth", 6)),
                        max_tokens=int(params.get("max_tokens", 200)),
                        pool_chance=float(params.get("pool_chance", 0.08)))
    parent = Program("grammar:" + source.pack.slug, "")
    seen: set[str] = set()
    emitted = 0
    for _ in range(_max_attempts(count, params)):
        if emitted >= count:
            break
        try:
            code = expander.program()
        except (ExpansionFailed, RecursionError):
            continue
        if not code.strip() or code in seen or not parses(code, corpus.grammar):
            continue
        seen.add(code)
        emitted += 1
        yield _candidate(parent, code, "syntax.grammar", start=expander.start)
