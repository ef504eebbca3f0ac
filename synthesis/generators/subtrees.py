"""Language-neutral views of tree-sitter trees that the grammar-aware generators share.

Nothing here names a node type of one language: shapes are recognised structurally (a
binary operation is a named node whose children are named, anonymous, named; a closer is
the anonymous last child of a node that an anonymous token opened), and what cannot be
recognised that way comes from the pack (keywords, builtins) or its `[synthesis]` table.
Edits are made on byte offsets, because tree-sitter reports bytes and programs are UTF-8.
"""
from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator

import tree_sitter

from curation.grammar import language_for, parse

NUMBER_TEXT = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


@dataclass
class Tree:
    code: str
    data: bytes
    tree: tree_sitter.Tree

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    def text(self, node: tree_sitter.Node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")


def read(code: str, grammar: str) -> Tree:
    tree = Tree(code, code.encode("utf-8"), parse(code, grammar))
    _remember_parse(grammar, code, not tree.root.has_error)
    return tree


def parses(code: str, grammar: str) -> bool:
    known = parsed_before(code, grammar)
    if known is not None:
        return known
    ok = not parse(code, grammar).root_node.has_error
    _remember_parse(grammar, code, ok)
    return ok


# Whether recently parsed programs parsed, by grammar and code. Generators parse every
# candidate they emit (to check an edit), and the pipeline asks the same of each candidate
# again when it is validated: a parse is about a millisecond per program, so asking twice
# cost more than all of triage's dedup. A parse is a function of the two strings alone.
_PARSED: dict[tuple[str, str], bool] = {}
_PARSED_LIMIT = 4096
_parsed_lock = threading.Lock()


def _remember_parse(grammar: str, code: str, ok: bool) -> None:
    with _parsed_lock:
        if len(_PARSED) >= _PARSED_LIMIT:
            for key in list(islice(_PARSED, _PARSED_LIMIT // 4)):  # the oldest quarter
                del _PARSED[key]
        _PARSED[(grammar, code)] = ok


def parsed_before(code: str, grammar: str) -> bool | None:
    """True or False if this code was parsed recently with this grammar, else None."""
    return _PARSED.get((grammar, code))


def word_type(grammar: str, config: dict | None = None) -> str:
    """The node type of names. `identifier` in nearly every grammar; a pack may say otherwise."""
    if config and config.get("identifier"):
        return config["identifier"]
    language = language_for(grammar)
    for candidate in ("identifier", "name", "word", "symbol"):
        if language.id_for_node_kind(candidate, True):
            return candidate
    return "identifier"


def walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def is_atomic(node: tree_sitter.Node) -> bool:
    """A node whose inside must never be edited piecemeal: comments and other extras, and
    string-like literals (delimited, contiguous, with a named leaf for the content)."""
    if node.child_count == 0 or node.is_extra:
        return True
    return literal_children(node.children)


def literal_children(children: list[tree_sitter.Node]) -> bool:
    """Whether these children make their parent a string-like literal."""
    if all(c.child_count == 0 for c in children) and not children[0].is_named and not children[-1].is_named \
            and any(c.is_named for c in children):
        return all(a.end_byte == b.start_byte for a, b in zip(children, children[1:]))
    return False


def tokens(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The program's tokens in order; atomic nodes count as one token."""
    out: list[tree_sitter.Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        # is_atomic, inlined so each node's children are fetched once: every access to a
        # node builds Python objects, and this walk was the largest cost of augment.reformat.
        if current.child_count and not current.is_extra:
            children = current.children
            if not literal_children(children):
                stack.extend(reversed(children))
                continue
        if current.end_byte > current.start_byte or current.is_missing:
            out.append(current)
    return out


def splice(data: bytes, edits: Iterable[tuple[int, int, str]]) -> str:
    """Apply (start, end, replacement) byte edits that do not overlap."""
    out, last = [], 0
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < last:
            raise ValueError("overlapping edits")
        out.append(data[last:start])
        out.append(new.encode("utf-8"))
        last = end
    out.append(data[last:])
    return b"".join(out).decode("utf-8")


def binary_parts(node: tree_sitter.Node, operators: frozenset[str]):
    """(left, operator, right) when `node` is a binary operation, else None."""
    if node.is_named and node.child_count == 3:
        left, op, right = node.children
        if left.is_named and right.is_named and not op.is_named and op.type in operators:
            return left, op, right
    return None


def unary_parts(node: tree_sitter.Node, operators: frozenset[str], keywords: frozenset[str]):
    """(operator, operand) when `node` is a prefix operation, else None."""
    if node.is_named and node.child_count == 2:
        op, operand = node.children
        if not op.is_named and operand.is_named and (op.type in operators or op.type in keywords):
            return op, operand
    return None


def closers(root: tree_sitter.Node) -> Iterator[tuple[tree_sitter.Node, tree_sitter.Node]]:
    """(node, closing token): the anonymous last child of a node that an anonymous token opened."""
    for node in walk(root):
        if node.is_named and node.child_count >= 2 and not node.is_extra:
            first, last = node.children[0], node.children[-1]
            if not first.is_named and not last.is_named and last.end_byte > last.start_byte \
                    and first.start_byte < last.start_byte:
                yield node, last


def field_of(node: tree_sitter.Node) -> str | None:
    parent = node.parent
    if parent is None:
        return None
    for i in range(parent.child_count):
        if parent.child(i).id == node.id:
            return parent.field_name_for_child(i)
    return None


def is_field_name(tree: Tree, node: tree_sitter.Node) -> bool:
    """A name used as a field or method of something else (`t.x`, `o:m`, `{x = 1}`'s key
    position is checked separately): renaming or misspelling it means something else."""
    prev_leaf = node.prev_sibling
    if prev_leaf is not None and not prev_leaf.is_named and prev_leaf.type in (".", ":", "::", "->", "?."):
        return True
    return False


def is_key_position(node: tree_sitter.Node) -> bool:
    """`name = value` inside a constructor or a keyword argument: the name is data, not a variable.
    Recognised as a name directly followed by `=` within its own parent; declarations keep their
    names one level down (in a name list), so they do not match."""
    following = node.next_sibling
    return following is not None and not following.is_named and following.type == "=" \
        and node.parent is not None and node.parent.named_child_count >= 2 \
        and node.parent.named_children[0].id == node.id and node.parent.child_count == 3


def stable_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def replaced_cleanly(code: str, grammar: str, start: int, new_text: str, kinds: set[str]) -> bool:
    """After putting `new_text` at byte `start`, the program parses and a node of one of
    `kinds` spans exactly the new text: the swap did not re-associate with its neighbours."""
    return cleanly_replaced_tree(code, grammar, start, new_text, kinds) is not None


def cleanly_replaced_tree(code: str, grammar: str, start: int, new_text: str, kinds) -> Tree | None:
    """`replaced_cleanly`, returning the parsed tree when it holds (for a caller that goes on
    editing it), else None."""
    tree = read(code, grammar)
    if tree.root.has_error:
        return None
    end = start + len(new_text.encode("utf-8"))
    node = tree.root.descendant_for_byte_range(start, end)
    while node is not None and node.start_byte == start and node.end_byte == end:
        if node.type in kinds:
            return tree
        node = node.parent
    return None


def humanize(kind: str) -> str:
    return kind.strip("_").replace("_", " ")


def indented(tree: Tree, node: tree_sitter.Node, extra: str | int) -> str:
    """The node's text with its lines after the first shifted: `extra` (text or a count of
    spaces) added after each line break, or a negative count of leading spaces removed.
    Line breaks inside multi-line tokens (long strings, block comments) are data and stay."""
    protected = [(t.start_byte, t.end_byte) for t in tokens(node) if b"\n" in tree.data[t.start_byte:t.end_byte]]
    if isinstance(extra, int):
        add, remove = (" " * extra, 0) if extra >= 0 else ("", -extra)
    else:
        add, remove = extra, 0
    out = bytearray()
    offset, end = node.start_byte, node.end_byte
    while offset < end:
        byte = tree.data[offset]
        out.append(byte)
        offset += 1
        if byte == 0x0A and not any(a <= offset - 1 < b for a, b in protected):
            following = tree.data[offset:offset + 1]
            if following in (b"\n", b"\r", b""):
                continue
            out.extend(add.encode("utf-8"))
            dropped = 0
            while dropped < remove and offset < end and tree.data[offset] == 0x20:
                offset += 1
                dropped += 1
    return out.decode("utf-8", "replace")


def column_of(tree: Tree, node: tree_sitter.Node) -> str:
    """The whitespace that starts the node's first line (its indentation)."""
    line_start = tree.data.rfind(b"\n", 0, node.start_byte) + 1
    prefix = tree.data[line_start:node.start_byte].decode("utf-8", "replace")
    return prefix if not prefix.strip() else re.match(r"\s*", prefix).group(0)


@dataclass(frozen=True)
class Wrapper:
    """A node type that puts fixed tokens around exactly one named child: `( e )`, `do b end`."""
    kind: str
    prefix: str
    suffix: str
    child_kinds: frozenset[str]

    def wrap(self, text: str) -> str:
        return f"{self.prefix}{text}{self.suffix}"

    def wrap_lines(self, body: str, indent: str, step: str = "  ") -> str:
        """Around a block that starts at column `indent`: the body one step deeper."""
        return f"{self.prefix}\n{indent}{step}{body}\n{indent}{self.suffix}"


def wrappers(trees: Iterable[Tree]) -> list[Wrapper]:
    found: dict[tuple[str, str, str], set[str]] = {}
    for tree in trees:
        for node in walk(tree.root):
            if not node.is_named or node.is_extra or is_atomic(node) or node.named_child_count != 1:
                continue
            children = node.children
            index = next(i for i, c in enumerate(children) if c.is_named)
            before, after = children[:index], children[index + 1:]
            if not before or not after or any(c.is_named or c.is_extra for c in before + after):
                continue
            prefix = " ".join(tree.text(c) for c in before)
            suffix = " ".join(tree.text(c) for c in after)
            found.setdefault((node.type, prefix, suffix), set()).add(children[index].type)
    return [Wrapper(kind, prefix, suffix, frozenset(kinds)) for (kind, prefix, suffix), kinds in found.items()]
