"""Triage: duplicates, leaks of held-out problems, secrets and junk never reach a reviewer."""
from __future__ import annotations

import dataclasses
import time

import pytest

from curation.packs import TaskData, read_pack
from synthesis.prompts import code_blocks
from synthesis.triage import (HeldOutProblem, Item, NearDuplicateIndex, content_hash, heldout_problems, normalise,
                              triage)
from tests.conftest import LUA_PACK

WORD_FREQ = """-- count how often each word occurs
function word_frequencies(text)
  local counts = {}
  for word in text:gmatch("%a+") do
    local key = word:lower()
    counts[key] = (counts[key] or 0) + 1
  end
  local words = {}
  for word in pairs(counts) do words[#words + 1] = word end
  table.sort(words, function(a, b)
    if counts[a] ~= counts[b] then return counts[a] > counts[b] end
    return a < b
  end)
  return words, counts
end
"""
RENAMED = """function frequencies_of(s)
  local tally = {}
  for w in s:gmatch("%a+") do
    local k = w:lower()
    tally[k] = (tally[k] or 0) + 1
  end
  local list = {}
  for w in pairs(tally) do list[#list + 1] = w end
  table.sort(list, function(x, y)
    if tally[x] ~= tally[y] then return tally[x] > tally[y] end
    return x < y
  end)
  return list, tally
end
"""
FIBONACCI = """local function fib(n)
  local a, b = 0, 1
  for _ = 1, n do a, b = b, a + b end
  return a
end
for i = 0, 10 do io.write(fib(i), " ") end
print()
"""
HELD_OUT = TaskData(
    name="balanced", split="test", category="strings",
    prompt="Write `balanced(s)`: true when every bracket in s is closed by the matching bracket in the right order.",
    entry_point="balanced", tests=[{"args": ["()"], "expected": True}],
    reference="""function balanced(s)
  local stack, pairs_of = {}, {[")"] = "(", ["]"] = "[", ["}"] = "{"}
  for ch in s:gmatch(".") do
    if ch == "(" or ch == "[" or ch == "{" then
      stack[#stack + 1] = ch
    elseif pairs_of[ch] then
      if stack[#stack] ~= pairs_of[ch] then return false end
      stack[#stack] = nil
    end
  end
  return #stack == 0
end
""", wrong="function balanced(s) return true end\n", path="tasks/test/balanced.toml")


@pytest.fixture(scope="module")
def content():
    return dataclasses.replace(read_pack(LUA_PACK), tasks=[HELD_OUT])


def _decide(items, content, **kwargs):
    return triage(items, kwargs.pop("rules", {}), pack=content, heldout=heldout_problems(content), **kwargs)


def test_distinct_programs_are_kept(content):
    decisions = _decide([Item("a", WORD_FREQ), Item("b", FIBONACCI)], content)
    assert [d.action for d in decisions] == ["keep", "keep"]


def test_copy_with_other_comments_and_spacing_is_an_exact_duplicate(content):
    copy = "\n\n" + WORD_FREQ.replace("-- count how often each word occurs", "-- different comment").replace("  ", "    ")
    assert normalise(copy, content.pack) == normalise(WORD_FREQ, content.pack)
    assert content_hash("p", normalise(copy, content.pack)) == content_hash(" p ", normalise(WORD_FREQ, content.pack))
    decisions = _decide([Item("a", WORD_FREQ), Item("b", copy)], content)
    assert (decisions[1].action, decisions[1].reason, decisions[1].matched) == ("reject", "exact_duplicates", "a")


def test_comment_marker_inside_a_string_is_kept(content):
    assert normalise('print("a -- b")  -- note', content.pack) == 'print("a -- b")'


def test_near_duplicate_is_caught(content):
    edited = WORD_FREQ.replace("return a < b", "return a > b")  # ties now sort the other way
    decisions = _decide([Item("a", WORD_FREQ), Item("b", edited)], content)
    assert (decisions[1].action, decisions[1].reason, decisions[1].matched) == ("reject", "near_duplicates", "a")
    assert decisions[1].scores["jaccard"] >= 0.85


def test_renamed_copy_is_near_duplicate(content):
    index = NearDuplicateIndex(pack=content.pack)
    assert index.check_and_add("original", WORD_FREQ) is None
    found = index.check_and_add("renamed", RENAMED)
    assert found is not None and found[0] == "original"
    assert index.check_and_add("other", FIBONACCI) is None
    assert len(index) == 2


def test_copy_of_an_already_kept_item_is_rejected(content):
    decisions = _decide([Item("new", RENAMED)], content, kept=[Item("old", WORD_FREQ)])
    assert (decisions[0].reason, decisions[0].matched) == ("near_duplicates", "old")


def test_decontamination_flags_test_split_solution(content):
    leaked = "-- my solution\n" + HELD_OUT.reference + "\nprint(balanced(\"([])\"))\n"
    decisions = _decide([Item("x", leaked, prompt="Check brackets.")], content)
    assert (decisions[0].action, decisions[0].reason, decisions[0].matched) == \
        ("reject", "decontamination", "task:test/balanced")


def test_decontamination_flags_a_copied_benchmark_prompt(content):
    bench = {"id": "humaneval/42", "prompt": "Return the list of all prefixes of the input string, from shortest to longest."}
    problems = heldout_problems(content, [bench])
    item = Item("x", FIBONACCI, prompt="Task: return the list of all prefixes of the input string, from shortest to longest.")
    [decision] = triage([item], {}, pack=content, heldout=problems)
    assert (decision.reason, decision.matched) == ("decontamination", "humaneval/42")


def test_shared_idiom_is_not_contamination(content):
    # Shares `for ch in s:gmatch(".") do` and the stack push with the held-out solution.
    idiom = """function count_digits(s)
  local stack, n = {}, 0
  for ch in s:gmatch(".") do
    if ch:match("%d") then n = n + 1 end
  end
  return n
end
"""
    assert _decide([Item("x", idiom)], content)[0].action == "keep"


@pytest.mark.parametrize("line", [
    'local key = "AKIAIOSFODNN7EXAMPLE"',
    'local aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    'local pem = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEow..."',
    'local password = "hunter2hunter2"',
    'config["api_key"] = "abcd1234efgh"',
    'local token = "ghp_0123456789abcdefghijABCDEFGHIJ012345"',
    'local url = "postgres://admin:s3cret@db.example.com/prod"',
    'local blob = "q8Zr4Lx0Vb2Nn7Tt1Kp9Ww3Ee5Yy6Uu"',
])
def test_secret_is_rejected(content, line):
    [decision] = _decide([Item("s", f"{line}\nprint(#key)\n")], content)
    assert (decision.action, decision.reason) == ("reject", "secrets")
    assert "hunter2" not in decision.detail and "s3cret" not in decision.detail


def test_pack_docs_and_examples_are_not_mistaken_for_secrets(content):
    programs = [e.code for e in content.examples] + [b for s in content.sections for b in code_blocks(s.body, content.pack)]
    decisions = triage([Item(str(i), p) for i, p in enumerate(programs)], {"exact_duplicates": False,
                                                                           "near_duplicates": False,
                                                                           "decontamination": False}, pack=content)
    assert [d for d in decisions if d.reason == "secrets"] == []
    placeholder = _decide([Item("p", 'local password = "changeme"\nprint(password)\n')], content)
    assert placeholder[0].action == "keep"


def test_length_limits_come_from_the_rules(content):
    rules = {"length": {"min_lines": 3, "max_chars": 200}}
    decisions = _decide([Item("short", "print(1)"), Item("long", WORD_FREQ), Item("ok", FIBONACCI)], content, rules=rules)
    assert [(d.action, d.reason) for d in decisions] == [("reject", "length"), ("reject", "length"), ("keep", "")]


def test_rule_can_send_to_review_instead_of_rejecting(content):
    rules = {"near_duplicates": {"action": "review", "threshold": 0.8}}
    decisions = _decide([Item("a", WORD_FREQ), Item("b", RENAMED)], content, rules=rules)
    assert (decisions[1].action, decisions[1].reason) == ("review", "near_duplicates")


def test_parse_errors_go_to_review_when_the_check_is_on(content):
    decisions = _decide([Item("bad", "function f(x)\n  return x +\nend\n")], content, rules={"parse": True})
    assert (decisions[0].action, decisions[0].reason) == ("review", "parse")


def test_perplexity_hook_sends_surprising_items_to_review(content):
    seen = []

    def score(texts):
        seen.extend(texts)
        return [100.0 if "fib" in t else 3.0 for t in texts]

    rules = {"perplexity": {"on": True, "max": 50.0}}
    decisions = _decide([Item("a", WORD_FREQ), Item("b", FIBONACCI), Item("c", RENAMED)], content, rules=rules,
                        perplexity=score)
    assert [(d.action, d.reason) for d in decisions] == [("keep", ""), ("review", "perplexity"), ("reject", "near_duplicates")]
    assert len(seen) == 2 and decisions[0].scores["perplexity"] == 3.0


def test_misspelt_rule_is_refused(content):
    with pytest.raises(ValueError, match="unknown triage check"):
        triage([], {"near_dupes": {"threshold": 0.9}})
    with pytest.raises(ValueError, match="unknown setting"):
        triage([], {"near_duplicates": {"treshold": 0.9}})


def test_triage_handles_thousands_of_items_per_second(content):
    items = []
    for i in range(2000):
        body = "\n".join(f"  local v{j} = x * {i * 7 + j} + {j}" for j in range(i % 9 + 3))
        items.append(Item(str(i), f"function f{i}(x)\n{body}\n  return v{i % 9 + 2} // {i % 5 + 1}\nend\n",
                          prompt=f"Task {i}"))
    items += items[:200]  # exact copies
    start = time.perf_counter()
    decisions = triage(items, {}, pack=content, heldout=[HeldOutProblem("p", (HELD_OUT.prompt, HELD_OUT.reference))])
    rate = len(items) / (time.perf_counter() - start)
    assert sum(d.reason == "exact_duplicates" for d in decisions) == 200
    assert rate > 300  # ~1,700-2,500/s measured on the shared 2-core box; the floor only catches a collapse


def test_index_carried_across_batches_catches_copies_despite_reused_ids(content):
    index = NearDuplicateIndex(pack=content.pack)
    first = triage([Item("0", WORD_FREQ)], {}, pack=content, near_index=index)
    second = triage([Item("0", FIBONACCI), Item("1", RENAMED)], {}, pack=content, near_index=index)
    third = triage([Item("0", FIBONACCI.replace("fib", "fibo"))], {}, pack=content, near_index=index)
    assert [d.action for d in first + second + third] == ["keep", "keep", "reject", "reject"]
    assert len(index) == 2


def _datasketch_signature(index: NearDuplicateIndex, text: str):
    """datasketch's MinHash over shingles built the plain way (a comprehension over
    windows), to check the index's faster shingle builder gives the same signature."""
    import zlib

    from datasketch import MinHash

    from synthesis.triage import canonical_tokens

    tokens = canonical_tokens(normalise(text, index.pack), index.keep)
    k = index.shingle
    shingles = ({" ".join(tokens).encode()} if len(tokens) <= k
                else {" ".join(tokens[i:i + k]).encode() for i in range(len(tokens) - k + 1)})
    minhash = MinHash(num_perm=index.num_perm, seed=1, hashfunc=zlib.crc32,
                      permutations=index._template.permutations, scheme=index._template.scheme)
    minhash.update_batch(shingles)
    return minhash


@pytest.mark.parametrize("num_perm,shingle", [(128, 5), (64, 3), (256, 1)])
def test_signatures_are_datasketch_minhashes(content, num_perm, shingle):
    import numpy as np

    index = NearDuplicateIndex(pack=content.pack, num_perm=num_perm, shingle=shingle)
    texts = [WORD_FREQ, RENAMED, FIBONACCI, "", "x", "a b", "naïve 日本語 text"] + [e.code for e in content.examples]
    ours = [index.signature(t) for t in texts]
    theirs = [_datasketch_signature(index, t) for t in texts]
    for a, b in zip(ours, theirs):
        assert np.array_equal(a.hashvalues, b.hashvalues)
    for i in range(len(texts) - 1):
        assert ours[i].jaccard(ours[i + 1]) == theirs[i].jaccard(theirs[i + 1])


def test_decontamination_matches_a_plain_n_gram_count(content):
    """The held-out index (token tuples, windows intersected in C, an ASCII fast path for
    tokens) finds exactly what counting each held-out text's n-grams in the item finds."""
    import re

    from synthesis.triage import ContaminationIndex

    problems = heldout_problems(read_pack(LUA_PACK))
    index = ContaminationIndex(problems)

    def tokens_of(text):
        return [t.lower() for t in re.findall(r"\w+|[^\w\s]", text)]

    def grams(tokens, n):
        return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}

    def reference(text):
        tokens, best = tokens_of(text), None
        for problem in problems:
            for part in problem.texts:
                held = tokens_of(part)
                if not held:
                    continue
                own = grams(held, min(len(held), 10))
                fraction = len(own & grams(tokens, min(len(held), 10))) / len(own)
                if fraction >= 0.25 and (best is None or fraction > best[1]):
                    best = (problem.id, fraction)
        return best

    texts = [t.reference for t in read_pack(LUA_PACK).tasks] + [e.code for e in content.examples]
    texts += ["İstanbul \x1c ÇAĞ end", "", "end", WORD_FREQ]
    found = [index.match(text) for text in texts]
    assert found == [reference(text) for text in texts]
    assert sum(f is not None for f in found) >= 24  # the dev/test references themselves
