"""The recommendation on a market of known structure: limits, exclusions with reasons, ranking, frontier, privacy."""
from __future__ import annotations

import itertools
import math

import pytest
from django.contrib.auth.models import AnonymousUser

from recommender.selectors import COST_AXES, Constraints, RecommendQuery, recommend
from tests.recommender.conftest import Market

BALANCED = {"reasoning": 1.0, "math": 1.0}


def run(market: Market, user=None, **options) -> object:
    options.setdefault("weights", BALANCED)
    options.setdefault("constraints", Constraints())
    options.setdefault("hardware", market.hardware)
    return recommend(query=RecommendQuery(market.suite, **options), user=user or AnonymousUser())


def names(models) -> list[str]:
    return [entry.model.name for entry in models]


def test_every_candidate_meets_every_limit_and_every_excluded_model_names_what_it_fails(market):
    limits = Constraints(max_memory_gb=10, min_tokens_per_s=50, max_p95_latency_ms=2000, max_usd_per_1m=5,
                         licenses=("Apache-2.0",))
    answer = run(market, constraints=limits)
    assert names(answer.candidates) == ["cheap"]
    for candidate in answer.candidates:
        figures = candidate.figures
        assert figures.memory_gb <= 10 and figures.tokens_per_s >= 50 and figures.p95_latency_ms <= 2000
        assert figures.usd_per_1m <= 5 and candidate.model.license == "apache-2.0"
    reasons = {entry.model.name: entry.reasons for entry in answer.excluded}
    assert set(reasons) == {"strong", "huge", "copyleft"}
    assert reasons["strong"] == ["tokens/s 40 < minimum 50", "p95 latency 3,000 ms > maximum 2000"]
    assert any(r.startswith("memory 141 GB (estimated) > maximum 10") for r in reasons["huge"])
    assert "licence mit is not in the allowed list" in reasons["huge"]
    assert reasons["copyleft"] == ["licence gpl-3.0 is not in the allowed list"]


def test_a_private_run_is_ranked_only_for_its_owner(market, django_user_model):
    anonymous = run(market)
    assert "secret" not in names(anonymous.candidates) + names(anonymous.excluded)
    alice = django_user_model.objects.get(username="alice")
    assert names(run(market, user=alice).candidates)[0] == "secret"


def test_ranked_by_weighted_quality_with_calibrated_probabilities(market):
    answer = run(market)
    assert names(answer.candidates) == ["huge", "strong", "copyleft", "cheap"]
    scores = [c.score for c in answer.candidates]
    assert scores == sorted(scores, reverse=True)
    # huge: arc (0.95 − 0.25)/0.75 and gsm 0.85, equal weights, in points.
    assert answer.candidates[0].score == pytest.approx(100 * ((0.95 - 0.25) / 0.75 + 0.85) / 2)
    assert sum(c.p_top1 for c in answer.candidates) == pytest.approx(1.0)
    assert answer.candidates[0].p_top1 >= 0.95  # best by a wide margin
    assert not answer.candidates[1].tied_with_leader
    # copyleft and cheap differ by 3 GSM8K items out of 60: within the noise of each other.
    assert abs(answer.candidates[2].p_top3 - answer.candidates[3].p_top3) < 0.6
    for candidate in answer.candidates:
        assert candidate.ci_low <= candidate.score <= candidate.ci_high


def test_measured_figures_on_the_chosen_hardware_and_estimates_where_nothing_was_measured(market):
    by_name = {c.model.name: c for c in run(market).candidates}
    strong = by_name["strong"].figures
    assert strong.estimated == []
    assert strong.tokens_per_s == 40 and strong.p95_latency_ms == 3000 and strong.memory_gb == pytest.approx(1.6)
    # $/1M at full load: the curve's best level, 150 tokens/s, at $0.72/h.
    assert strong.usd_per_1m == pytest.approx(0.72 / (150 * 3600) * 1e6)
    assert strong.joules_per_token == pytest.approx(2.0)
    huge = by_name["huge"].figures
    assert set(huge.estimated) == {"memory_gb", "tokens_per_s", "p95_latency_ms", "joules_per_token", "usd_per_1m"}
    weights = 70e9 * 2  # bf16
    assert huge.memory_gb == pytest.approx((weights + 512 * 2**20) / 1e9)
    assert huge.tokens_per_s == pytest.approx(100e9 * 0.5 / weights)
    # strong 70.0 vs huge 89.2 points; huge's estimated $/1M is 420× strong's, its memory 88×.
    assert by_name["strong"].tradeoff == "19.2 points below huge, 420× cheaper per 1M tokens, 88× less memory"
    assert by_name["huge"].tradeoff == "19.2 points above strong, 420× dearer per 1M tokens, 88× the memory"


def test_the_frontier_holds_exactly_the_non_dominated_candidates(market):
    candidates = run(market).candidates
    def vector(c):  # every axis made "higher is better", unknown as worst
        return [c.score] + [-(c.figures.value(axis) if c.figures.value(axis) is not None else math.inf)
                            for axis in COST_AXES]
    dominated = set()
    for a, b in itertools.permutations(candidates, 2):
        if all(x >= y for x, y in zip(vector(a), vector(b))) and vector(a) != vector(b):
            dominated.add(b.model.name)
    assert {c.model.name for c in candidates if not c.on_pareto_front} == dominated
    # cheap and copyleft have the same figures; copyleft scores a little higher, so cheap is dominated.
    assert dominated == {"cheap"}
    for candidate in candidates:
        assert 0.0 <= candidate.p_pareto <= 1.0
        if candidate.on_pareto_front and candidate.model.name in ("huge", "strong"):
            assert candidate.p_pareto > 0.9


def test_minimum_category_scores_and_weights_outside_the_suite(market):
    answer = run(market, constraints=Constraints(min_category={"math": 50}))
    reasons = {entry.model.name: entry.reasons for entry in answer.excluded}
    assert reasons["cheap"] == ["math score 20.0 < minimum 50"]
    assert "strong" in names(answer.candidates)
    none = run(market, weights={"coding": 1.0})
    assert none.candidates == [] and none.notes


def test_a_seed_reproduces_the_page(market):
    first = [(c.model.name, c.p_top1, c.ci_low, c.p_pareto) for c in run(market, seed=4).candidates]
    assert first == [(c.model.name, c.p_top1, c.ci_low, c.p_pareto) for c in run(market, seed=4).candidates]


def test_without_hardware_nothing_is_priced(market):
    by_name = {c.model.name: c for c in run(market, hardware=None).candidates}
    assert by_name["strong"].figures.usd_per_1m is None
    assert by_name["strong"].figures.tokens_per_s == 40  # any measured hardware counts
    assert "dearer" not in by_name["strong"].tradeoff and "points below huge" in by_name["strong"].tradeoff


def test_a_constant_number_of_queries_and_stored_items_read_once(market):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from evaluations.models import Sample

    cache.clear()
    with CaptureQueriesContext(connection) as first:
        run(market)
    with CaptureQueriesContext(connection) as second:
        run(market)
    samples = Sample._meta.db_table
    assert any(samples in query["sql"] for query in first.captured_queries)
    assert not any(samples in query["sql"] for query in second.captured_queries)  # finished runs' items: cached
    assert len(second.captured_queries) == 5  # scores, benchmarks, models, profiles, run estimates


def candidate(name: str, score: float, *, usd: float | None, memory: float | None, tied: bool = False,
              family: str = "", quantization: str = ""):
    from evaluations.models import ModelEntry
    from recommender.figures import Figures
    from recommender.selectors import Candidate

    return Candidate(ModelEntry(name=name, family=family, quantization=quantization), score, score - 2, score + 2,
                     0.0, 0.0, tied, True, 1.0, Figures(memory_gb=memory, usd_per_1m=usd), {})


def test_advice_names_cheaper_and_smaller_models_close_to_the_leader():
    from recommender.advice import advice

    leader = candidate("big", 80.0, usd=3.0, memory=16.0, family="llama", quantization="F16")
    ranked = [leader, candidate("big-q4", 78.5, usd=1.0, memory=5.0, family="llama", quantization="Q4_K_M"),
              candidate("small", 76.0, usd=0.5, memory=1.0, tied=True),
              candidate("far", 60.0, usd=0.1, memory=0.5)]
    assert advice(ranked) == [
        "small is 4.0 points below big, statistically tied, at 6.0× less cost per 1M tokens.",
        "small is 4.0 points below big, statistically tied, at 16× less memory.",
    ]
    assert advice(ranked[:2]) == [
        "big-q4 (a Q4_K_M build of the same family) is 1.5 points below big, at 3.0× less cost per 1M tokens.",
        "big-q4 (a Q4_K_M build of the same family) is 1.5 points below big, at 3.2× less memory.",
    ]
    assert advice([leader, candidate("dear", 79.0, usd=3.5, memory=20.0)]) == []
    assert ranked[1].usd_per_point == 1.0 / 78.5


def test_measured_memory_grows_by_the_kv_cache_of_a_longer_context(market):
    from evaluations.models import PerformanceProfile, Run

    kv_per_token = 10_000
    weights = 1.5e9 * 0.5625  # strong: 1.5B parameters in Q4_K_M
    Run.objects.filter(model=market.strong).update(
        estimated_memory_bytes=int(weights + 512 * 2**20 + 2048 * kv_per_token),
        config={"backend_options": {"n_ctx": 2048}})
    PerformanceProfile.objects.filter(model=market.strong).update(backend_options={"n_ctx": 2048})
    at_profile = {c.model.name: c for c in run(market, context_tokens=2048).candidates}["strong"].figures
    longer = {c.model.name: c for c in run(market, context_tokens=8192).candidates}["strong"].figures
    assert at_profile.memory_gb == pytest.approx(1.6) and "memory_gb" not in at_profile.estimated
    assert longer.memory_gb == pytest.approx(1.6 + (8192 - 2048) * kv_per_token / 1e9, rel=1e-3)
    assert "memory_gb" in longer.estimated


def test_a_group_benchmark_pairs_items_across_its_members(db):
    """MMLU-style: the score is on the group, the samples on its members; subjects are resampled whole."""
    from evaluations.models import Sample
    from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, RunFactory, ScoreFactory, SuiteFactory

    group = BenchmarkFactory(slug="mmlu", category="knowledge", is_group=True,
                             task_spec={"members": ["mmlu_anatomy", "mmlu_astronomy"]})
    members = [BenchmarkFactory(slug="mmlu_anatomy", category="knowledge"),
               BenchmarkFactory(slug="mmlu_astronomy", category="knowledge")]
    suite = SuiteFactory(slug="standard", order=["mmlu"])
    accuracy = {"sure": (1.0, 0.9), "unsure": (0.5, 0.3)}  # per subject, 10 items each
    for name, per_subject in accuracy.items():
        run = RunFactory(model=ModelEntryFactory(name=name), requested_benchmarks=["mmlu"])
        Sample.objects.bulk_create(
            Sample(run=run, benchmark=member, doc_id=i, prompt="q", metrics={"acc": float(i < 10 * share)})
            for member, share in zip(members, per_subject) for i in range(10))
        ScoreFactory(run=run, benchmark=group, metric="acc", value=sum(per_subject) / 2, n=20)
    answer = recommend(query=RecommendQuery(suite, {"knowledge": 1.0}, Constraints()), user=AnonymousUser())
    sure, unsure = answer.candidates
    assert (sure.model.name, unsure.model.name) == ("sure", "unsure")
    assert sure.score == pytest.approx(100 * (0.95 - 0.25) / 0.75)  # chance 1/4 for MMLU
    assert unsure.score == pytest.approx(100 * (0.40 - 0.25) / 0.75)
    # Two clusters: a resample draws anatomy and astronomy whole, so sure's score takes three values at most.
    assert sure.ci_low == pytest.approx(100 * (0.9 - 0.25) / 0.75) and sure.ci_high == pytest.approx(100.0)


def test_energy_a_profiler_estimated_is_marked_estimated(market):
    from evaluations.models import PerformanceProfile

    PerformanceProfile.objects.filter(model=market.strong).update(energy_source="estimated")
    strong = {c.model.name: c for c in run(market).candidates}["strong"].figures
    assert strong.joules_per_token == pytest.approx(2.0) and strong.estimated == ["joules_per_token"]


def test_a_board_too_large_to_resample_ranks_the_best_by_stored_scores_and_says_so(market, settings):
    settings.BENCHSITE_RECOMMEND_MAX_CANDIDATES = 2
    answer = run(market)
    assert names(answer.candidates) == ["huge", "strong"]  # the two best of the four, as in the full ranking
    assert sum(c.p_top1 for c in answer.candidates) == pytest.approx(1.0)
    assert any(note.startswith("4 models meet your limits: the 2 with the best stored scores") for note in answer.notes)
