"""The vs-base page: paired Δ per benchmark with Holm, transfer, few-shot vs fine-tune, lineage, privacy."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from evaluations.models import Benchmark, ModelEntry, Run, RunStatus, Sample, Score
from evaluations.services import model_entries, plans, runs
from leaderboard import finetunes, selectors
from tests.leaderboard.conftest import board  # noqa: F401  (the leaderboard's small board fixture)

pytestmark = pytest.mark.django_db
LIMIT = 40
SMOL = "bundled:SmolLM2-135M-Instruct"  # real files for placement; the fake backend answers


def finished_run(model: ModelEntry, scores: dict[str, int], *, num_fewshot: int | None = None, user=None,
                 private: bool = False) -> Run:
    """A finished run whose items 0..k-1 of each benchmark are right (k = scores[slug]) and the rest wrong.

    Stored directly, as a worker would have: executing even the fake backend costs seconds a run here.
    """
    plan = plans.run_plan(model=model, backend="fake", benchmarks=list(scores), limit=LIMIT, num_fewshot=num_fewshot)
    run = runs.run_create(plan=plan, user=user, is_private=private)
    for slug, right in scores.items():
        benchmark = Benchmark.objects.get(slug=slug, spec_hash=plan.config["tasks"][slug]["spec_hash"])
        Sample.objects.bulk_create(
            Sample(run=run, benchmark=benchmark, doc_id=doc_id, prompt="", correct=doc_id < right,
                   metrics={"acc": float(doc_id < right), "acc_norm": float(doc_id < right)})
            for doc_id in range(LIMIT))
        Score.objects.create(run=run, benchmark=benchmark, metric="acc_norm", value=right / LIMIT, stderr=0.05,
                             n=LIMIT, is_primary=True, config_key=plan.config["tasks"][slug]["config_key"])
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FINISHED, finished_at=timezone.now())
    return run


@pytest.fixture
def family():
    base = ModelEntry.objects.create(name="Base-1B", location=SMOL, source_kind="bundled", file_sha256="a" * 64,
                                     parameter_count=1000)
    tuned = ModelEntry.objects.create(name="Base-1B-science", location=SMOL, source_kind="bundled",
                                      file_sha256="a" * 64, parameter_count=1000)
    model_entries.model_set_lineage(model=tuned, base=base, relation="fine_tune", target_benchmarks=["arc_easy"])
    quantized = ModelEntry.objects.create(name="Base-1B-science-Q4", location="fake", source_kind="local")
    model_entries.model_set_lineage(model=quantized, base=tuned, relation="quantization")
    finished_run(base, {"arc_easy": 12, "hellaswag": 20})
    finished_run(tuned, {"arc_easy": 36, "hellaswag": 16})  # +24 items on the target, none lost; -4 elsewhere
    return base, tuned, quantized


def test_vs_base_pairs_items_and_splits_target_from_the_rest(family, django_assert_max_num_queries):
    base, tuned, _ = family
    with django_assert_max_num_queries(8):
        page = finetunes.vs_base_page(slug=tuned.slug, user=None)
    rows = {row.benchmark.slug: row for row in page.rows}
    assert rows["arc_easy"].delta == pytest.approx(0.6) and rows["arc_easy"].n_shared == LIMIT
    assert rows["arc_easy"].discordant == (24, 0) and rows["arc_easy"].verdict == "better"
    assert rows["hellaswag"].delta == pytest.approx(-0.1) and rows["hellaswag"].verdict == "tied"
    assert rows["arc_easy"].p_value_holm == pytest.approx(min(1.0, 2 * rows["arc_easy"].p_value))
    assert page.transfer.target.points == pytest.approx(60.0)
    assert page.transfer.general.points == pytest.approx(-10.0)
    assert page.transfer.net.points == pytest.approx(50.0)  # gain 60 minus loss 10
    assert "vs-base-chart" in page.chart


def test_fewshot_curve_compares_the_base_at_k_shots_with_the_fine_tune(family):
    base, tuned, _ = family
    for shots, correct in ((1, 20), (3, 30), (5, 38)):
        finished_run(base, {"arc_easy": correct}, num_fewshot=shots)
    page = finetunes.vs_base_page(slug=tuned.slug, user=None)
    assert [(p.shots, p.model.name) for p in sorted(
        finetunes.compare.fewshot_points(tuned=tuned, base=base, benchmarks=["arc_easy"], user=None),
        key=lambda p: (p.model.pk, p.shots))] == [(0, "Base-1B"), (1, "Base-1B"), (3, "Base-1B"), (5, "Base-1B"),
                                                  (0, "Base-1B-science")]
    verdict = page.fewshot_verdicts[0]
    assert (verdict.best_shots, verdict.margin_points) == (5, pytest.approx(-5.0))
    assert "fewshot-chart" in page.fewshot_chart


def test_private_runs_never_reach_the_page(family):
    base, tuned, _ = family
    owner = get_user_model().objects.create_user("alice", password="x")
    secret = finished_run(tuned, {"winogrande": 30}, user=owner, private=True)
    finished_run(base, {"winogrande": 20})
    public = finetunes.vs_base_page(slug=tuned.slug, user=None)
    mine = finetunes.vs_base_page(slug=tuned.slug, user=owner)
    assert "winogrande" not in {row.benchmark.slug for row in public.rows}
    assert "winogrande" in {row.benchmark.slug for row in mine.rows} and secret.pk


def test_the_pages_show_the_tree_and_the_comparison(family):
    base, tuned, quantized = family
    client = Client()
    detail = client.get(reverse("leaderboard:model_detail", args=[tuned.slug])).content.decode()
    assert 'id="lineage"' in detail and 'data-model="base-1b-science-q4"' in detail and "quantization" in detail
    assert reverse("leaderboard:model_vs_base", args=[tuned.slug]) in detail
    page = client.get(reverse("leaderboard:model_vs_base", args=[tuned.slug])).content.decode()
    assert 'data-benchmark="arc_easy" data-verdict="better"' in page and 'data-figure="net">+50.0' in page
    assert client.get(reverse("leaderboard:model_vs_base", args=[base.slug])).status_code == 404


def test_the_lineage_tree_goes_from_the_root_down():
    a = ModelEntry.objects.create(name="A", location="x", source_kind="local")
    b = ModelEntry.objects.create(name="B", location="x", source_kind="local")
    c = ModelEntry.objects.create(name="C", location="x", source_kind="local")
    model_entries.model_set_lineage(model=b, base=a, relation="fine_tune")
    model_entries.model_set_lineage(model=c, base=b, relation="merge")
    tree = finetunes.model_lineage(c)
    assert (tree.model, tree.children[0].model, tree.children[0].children[0].model) == (a, b, c)
    assert tree.children[0].children[0].current and not tree.current
    assert finetunes.model_lineage(ModelEntry.objects.create(name="Alone", location="x", source_kind="local")) is None


def test_the_leaderboard_filters_base_models_from_derived_ones(board, django_assert_num_queries):
    model_entries.model_set_lineage(model=board.gamma, base=board.alpha, relation="fine_tune")
    model_entries.model_set_lineage(model=board.beta, base=board.alpha, relation="quantization")
    names = {lineage: [row.model.name for row in selectors.leaderboard_rows(lineage=lineage).rows]
             for lineage in ("", "base", "fine_tuned", "bogus")}
    assert sorted(names[""]) == sorted(names["bogus"]) == ["alpha", "beta", "gamma"]
    assert (names["base"], sorted(names["fine_tuned"])) == (["alpha"], ["beta", "gamma"])
    with django_assert_num_queries(7):  # as unfiltered (tests/leaderboard/test_selectors.py): the filter is a WHERE
        selectors.leaderboard_rows(lineage="fine_tuned")
    page = Client().get(reverse("leaderboard:index") + "?lineage=fine_tuned").content.decode()
    assert '<option value="fine_tuned" selected>' in page and "lineage=fine_tuned&amp;sort=" in page
