"""Cohen's and Fleiss' kappa against published values; no database."""
from __future__ import annotations

import pytest

from curation.agreement import cohen_kappa, fleiss_kappa, interpret, queue_agreement


def _two_raters(both_yes: int, first_only: int, second_only: int, both_no: int):
    first = ["yes"] * both_yes + ["yes"] * first_only + ["no"] * second_only + ["no"] * both_no
    second = ["yes"] * both_yes + ["no"] * first_only + ["yes"] * second_only + ["no"] * both_no
    return first, second


@pytest.mark.parametrize("table,expected", [
    ((20, 5, 10, 15), 0.4),        # Cohen's kappa, Wikipedia's worked example
    ((45, 15, 25, 15), 0.1304),    # the two "kappa paradox" tables: same 60% agreement,
    ((25, 35, 5, 35), 0.2593),     # different marginals, different kappa
])
def test_cohen_kappa_matches_the_textbook_examples(table, expected):
    assert cohen_kappa(*_two_raters(*table)) == pytest.approx(expected, abs=5e-5)


def test_cohen_kappa_is_one_for_identical_raters_and_undefined_when_nobody_varies():
    assert cohen_kappa(["a", "r", "a"], ["a", "r", "a"]) == pytest.approx(1.0)
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None
    assert cohen_kappa([], []) is None


def test_cohen_kappa_is_negative_when_raters_always_disagree():
    assert cohen_kappa(["a", "r", "a", "r"], ["r", "a", "r", "a"]) == pytest.approx(-1.0)


def test_cohen_kappa_refuses_different_lengths():
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "r"])


FLEISS_1971 = [  # Wikipedia's Fleiss' kappa example: 10 subjects, 14 raters, 5 categories
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_published_example():
    assert fleiss_kappa(FLEISS_1971) == pytest.approx(0.20993, abs=5e-5)


def test_fleiss_kappa_with_two_raters_is_close_to_scotts_pi():
    # Two raters: Fleiss' kappa is Scott's pi — chance from the pooled labels.
    first, second = _two_raters(20, 5, 10, 15)
    table = [[(a == "yes") + (b == "yes"), (a == "no") + (b == "no")] for a, b in zip(first, second)]
    pooled_yes = (25 + 30) / 100
    pi = (0.7 - (pooled_yes ** 2 + (1 - pooled_yes) ** 2)) / (1 - (pooled_yes ** 2 + (1 - pooled_yes) ** 2))
    assert fleiss_kappa(table) == pytest.approx(pi)


def test_fleiss_kappa_leaves_out_items_with_one_rating_and_handles_unequal_raters():
    assert fleiss_kappa([[1, 0], [0, 1]]) is None
    assert fleiss_kappa([[3, 0], [0, 2], [1, 0]]) == pytest.approx(1.0)
    assert fleiss_kappa([[2, 0], [2, 0]]) is None  # one category only: chance is certain


def test_queue_agreement_per_queue_and_per_reviewer():
    decisions = []
    labels = {  # item: (ann, bob, cid)
        1: ("accept", "accept", "accept"), 2: ("reject", "reject", "accept"), 3: ("accept", "accept", "reject"),
        4: ("reject", "reject", "reject"), 5: ("accept", "accept", "accept"), 6: ("reject", "reject", "accept"),
    }
    for item, votes in labels.items():
        decisions += [(item, who, vote) for who, vote in zip(("ann", "bob", "cid"), votes)]
    decisions.append((7, "ann", "accept"))  # seen by one reviewer only: says nothing about agreement
    figures = queue_agreement(decisions)
    assert figures.items == 6 and figures.ratings == 18
    table = [[v.count("accept"), v.count("reject")] for v in labels.values()]
    assert figures.fleiss == pytest.approx(fleiss_kappa(table))
    by_name = {r.reviewer: r for r in figures.reviewers}
    assert by_name["ann"].decisions == 7
    # Ann and Bob always agree; Cid is the odd one out, so his mean kappa is the lowest.
    assert figures.pairwise[("ann", "bob")][0] == pytest.approx(1.0)
    assert by_name["cid"].kappa < by_name["ann"].kappa
    assert by_name["ann"].shared_items == 12


def test_kappa_words_follow_landis_and_koch():
    assert interpret(None) == "not enough data"
    assert interpret(0.1) == "slight"
    assert interpret(0.5) == "moderate"
    assert interpret(0.95) == "almost perfect"
