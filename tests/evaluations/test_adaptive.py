"""Adaptive runs stop each benchmark once its answer is clear, say why, and never mix with full runs.

The model is the test suite's DeterministicFakeBackend (a stand-in, not a model): its choices are a hash
of the text, so about a quarter of ARC items come out right, which is all the stopping rules need.
"""
from __future__ import annotations

import math

import pytest
from django.core.management import CommandError, call_command

from evaluations.models import RunStatus, Sample, Score
from evaluations.services import model_entries, plans, runs, shards
from evaluations.services.adaptive import CI_HALF_WIDTH, REFERENCE_RESOLVED, AdaptiveRule

pytestmark = pytest.mark.django_db
ITEMS = 400


def evaluate(model="SmolLM2-135M-Instruct", adaptive: AdaptiveRule | None = None):
    entry = model_entries.model_resolve(reference=model)
    plan = plans.run_plan(model=entry, backend="fake", benchmarks=["arc_easy"], limit=ITEMS, adaptive=adaptive)
    return shards.run_execute(run=runs.run_create(plan=plan), plan=plan)


def accuracy_values(run) -> dict[int, float]:
    return {doc: m["acc_norm"] for doc, m in Sample.objects.filter(run=run).values_list("doc_id", "metrics")}


def test_a_benchmark_stops_once_its_interval_is_narrow_enough_and_says_so(client):
    rule = AdaptiveRule(epsilon_points=10.0, floor=48, seed=7)
    run = evaluate(adaptive=rule)
    assert run.status == RunStatus.FINISHED
    stop = run.adaptive_stops["arc_easy"]
    values = accuracy_values(run)
    n = len(values)
    assert stop["rule"] == CI_HALF_WIDTH and stop["items"] == n and rule.floor <= n < ITEMS
    assert stop["saved"] == ITEMS - n and run.total == run.done == n
    mean = sum(values.values()) / n
    adjusted = (sum(values.values()) + 2) / (n + 4)  # Agresti–Coull, for 0/1 scores

    def half_width(items: int) -> float:
        return 1.959964 * math.sqrt(adjusted * (1 - adjusted) / (items + 4)) * 100

    assert stop["half_width_points"] == pytest.approx(half_width(n), rel=1e-5)
    assert stop["half_width_points"] <= rule.epsilon_points
    # The rule is checked every 16 items: 16 fewer would not have been enough.
    assert n == rule.floor or half_width(n - 16) > rule.epsilon_points * 0.9
    # Items in a seeded random order, not the first n; the same seed picks the same items.
    assert set(values) != set(range(n))
    again = evaluate(adaptive=rule)
    assert set(accuracy_values(again)) == set(values)
    score = Score.objects.get(run=run, metric="acc_norm")
    assert score.n == n and score.value == pytest.approx(mean)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert f"stopped after {n} of {ITEMS} items ({ITEMS - n} saved)" in page


def test_adaptive_scores_have_their_own_configuration_key():
    full = evaluate()
    adaptive = evaluate(adaptive=AdaptiveRule(epsilon_points=10.0, floor=48))
    full_key = Score.objects.get(run=full, metric="acc_norm").config_key
    adaptive_key = Score.objects.get(run=adaptive, metric="acc_norm").config_key
    assert full_key != adaptive_key
    assert adaptive.config["tasks"]["arc_easy"]["full_config_key"] == full_key
    assert "adaptive" in adaptive.configuration_label and "adaptive" not in full.configuration_label


def test_a_resolved_comparison_with_a_reference_model_stops_the_benchmark():
    reference = evaluate(model="gemma-3-270m")
    Sample.objects.filter(run=reference).update(metrics={"acc": 1.0, "acc_norm": 1.0})  # a far better model
    rule = AdaptiveRule(epsilon_points=0.01, floor=32, reference="gemma-3-270m")  # the interval rule never fires
    run = evaluate(adaptive=rule)
    stop = run.adaptive_stops["arc_easy"]
    assert stop["rule"] == REFERENCE_RESOLVED and stop["items"] == 32
    values = accuracy_values(run)
    assert stop["reference_delta_points"] == pytest.approx((sum(values.values()) / len(values) - 1) * 100)


def test_the_command_line_refuses_adaptive_tuning_without_adaptive_and_bad_values(tmp_path):
    base = ["evaluate", "--model", "SmolLM2-135M-Instruct", "--backend", "fake", "--benchmark", "arc_easy",
            "--limit", "5", "--no-progress"]
    with pytest.raises(CommandError, match="need --adaptive"):
        call_command(*base, "--adaptive-floor", "10")
    with pytest.raises(CommandError, match="positive number of points"):
        call_command(*base, "--adaptive", "--adaptive-epsilon", "0")
    with pytest.raises(CommandError, match="unknown|no model|not found"):
        call_command(*base, "--adaptive", "--adaptive-reference", "no-such-model")


def test_replayed_stops_on_a_known_population_cover_its_mean_about_95_percent_of_the_time():
    import numpy as np

    from evaluations.services.adaptive import adaptive_simulate

    values = (np.random.default_rng(3).random(5000) < 0.7).astype(float)
    rule = AdaptiveRule(epsilon_points=3.0, floor=100)
    simulated = adaptive_simulate(values, rule, resamples=400, seed=1)
    assert simulated.stopped_early == 1.0  # ±3 points needs ~900 of the 5000 items
    assert 700 < simulated.mean_items < 1100
    assert 0.90 <= simulated.coverage <= 0.99
    assert simulated.mean_abs_error_points < 3.0
    never = adaptive_simulate(values[:150], AdaptiveRule(epsilon_points=0.5, floor=100), resamples=50)
    assert never.stopped_early == 0.0 and never.coverage is None and never.mean_items == 150
    # 20 right answers in a row are no certainty: a zero-width interval never stops a run at its floor.
    lucky = adaptive_simulate(np.ones(200), AdaptiveRule(epsilon_points=5.0, floor=20), resamples=5)
    assert lucky.mean_items > 20
