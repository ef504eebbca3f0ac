from __future__ import annotations

from fractions import Fraction
from math import comb
from types import SimpleNamespace

import pytest

from evaluation.metrics import (bootstrap_interval, cited_anchors, doc_grounded, pass_at_k, rate_at_1, summarize,
                                wilson_interval)


def _exact(n: int, c: int, k: int) -> float:
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def test_pass_at_k_matches_known_values():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # 1 - C(7,5)/C(10,5) = 1 - 21/252
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    # 1 - C(18,10)/C(20,10) = 1 - 43758/184756
    assert pass_at_k(20, 2, 10) == pytest.approx(1 - 43758 / 184756)
    # 1 - C(199,100)/C(200,100) = 1 - 100/200
    assert pass_at_k(200, 1, 100) == pytest.approx(0.5)
    assert pass_at_k(5, 1, 2) == pytest.approx(0.4)


def test_pass_at_k_edge_cases():
    assert pass_at_k(10, 3, 10) == 1.0  # k = n with one pass among them
    assert pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 8, 3) == 1.0  # n - c < k: every draw of 3 holds a pass
    assert pass_at_k(1, 1, 1) == 1.0


def test_pass_at_k_is_stable_where_binomials_overflow():
    # C(1000, 500) is far beyond a float; the product form agrees with exact arithmetic.
    for n, c, k in [(1000, 7, 500), (1000, 1, 1), (400, 37, 100), (200, 150, 10)]:
        assert pass_at_k(n, c, k) == pytest.approx(_exact(n, c, k), rel=1e-12, abs=1e-15)


def test_pass_at_k_refuses_impossible_arguments():
    for args in [(0, 0, 1), (10, 11, 1), (10, -1, 1), (10, 3, 0), (10, 3, 11)]:
        with pytest.raises(ValueError):
            pass_at_k(*args)


def test_wilson_interval_matches_known_values():
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(81, 263)
    assert (low, high) == (pytest.approx(0.2553, abs=1e-3), pytest.approx(0.3662, abs=1e-3))


def test_bootstrap_interval_is_reproducible_with_a_seed():
    values = [1.0] * 30 + [0.0] * 70 + [0.5] * 10
    first = bootstrap_interval(values, seed=7)
    assert first == bootstrap_interval(values, seed=7)
    mean = sum(values) / len(values)
    assert first[0] < mean < first[1]


def test_rate_at_1_counts_problems_not_samples():
    # 2 problems x 10 samples: the interval is as wide as for 2 trials, not 20.
    estimate = rate_at_1([(10, 10), (10, 0)])
    assert estimate.value == 0.5 and estimate.problems == 2
    assert estimate.low < 0.1 and estimate.high > 0.9


def _sample(pid, passed, compiles=True, seconds=None, tokens=None):
    return SimpleNamespace(problem_id=pid, passed=passed, compiles=compiles, seconds=seconds, tokens=tokens)


def test_summarize_reports_each_suites_headline_metrics():
    problems = [SimpleNamespace(id=f"c{i}", suite="lua-dev", kind="code") for i in range(3)]
    problems += [SimpleNamespace(id="f0", suite="lua-errfix", kind="errfix"),
                 SimpleNamespace(id="d0", suite="lua-docqa", kind="docqa")]
    samples = [_sample("c0", True, seconds=1.0, tokens=10), _sample("c0", False, seconds=3.0, tokens=30),
               _sample("c1", False, compiles=False), _sample("c1", False, compiles=False),
               _sample("c2", True), _sample("c2", True),
               _sample("f0", True), _sample("f0", False),
               _sample("d0", True, compiles=None), _sample("d0", True, compiles=None)]
    report = summarize(samples, problems, ks=(1, 2))
    code = report["lua-dev"].metrics
    assert code["Pass@1"].value == pytest.approx((0.5 + 0 + 1) / 3)
    assert code["Pass@2"].value == pytest.approx((1 + 0 + 1) / 3)
    assert code["Pass@2"].method == "bootstrap"
    assert code["Compile@1"].value == pytest.approx(2 / 3)
    assert report["lua-errfix"].metrics["FixRate@1"].value == 0.5
    assert report["lua-docqa"].metrics["DocGrounded@1"].value == 1.0
    assert "Compile@1" not in report["lua-docqa"].metrics
    cost = report["lua-dev"].cost
    assert cost.mean_seconds == 2.0 and cost.mean_tokens == 20.0 and cost.samples == 6


def test_doc_grounded_requires_the_exact_anchor():
    known = ["§6", "§6.1", "§6.2", "§3.2"]
    assert doc_grounded("Braces build tables (§6.1).", ["§6.1"], known).grounded
    assert doc_grounded("See §6.1, and §6 for context.", ["§6.1"], known).grounded
    parent_only = doc_grounded("Tables are described in §6.", ["§6.1"], known)
    assert not parent_only.grounded and parent_only.reason == "missing_anchor"


def test_doc_grounded_refuses_invented_anchors_and_citing_everything():
    known = ["§6", "§6.1", "§6.2", "§3.2", "§3.3"]
    invented = doc_grounded("Braces build tables (§6.1, §6.9).", ["§6.1"], known)
    assert invented.reason == "unknown_anchor" and invented.unknown == ("§6.9",)
    spray = doc_grounded("See §6.1 §6 §6.2 §3.2.", ["§6.1"], known)
    assert spray.reason == "overcited"
    assert doc_grounded("§6.1", ["§6.1"], known).reason == "no_answer"


def test_cited_anchors_ignore_sentence_dots():
    assert cited_anchors("as §6.1. says, and § 3.2; again §6.1") == ("§6.1", "§3.2")
    assert cited_anchors("§10.12 differs from §10.1") == ("§10.12", "§10.1")
