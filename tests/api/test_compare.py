"""GET /api/v1/compare/: the compare service as JSON, its p-values checked against the runs' stored samples."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from scipy import stats as scipy_stats

from evaluations.models import Run, Sample, Score, Suite
from evaluations.services import model_entries
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SampleFactory, SuiteFactory, finished_run
from tests.leaderboard.test_browser import CHROMIUM, page  # noqa: F401
from tests.stats.compare_world import build_compare_world, evaluate

pytestmark = pytest.mark.django_db
ROW_KEYS = {"benchmark", "metric", "n_shared", "scores", "delta", "ci_low", "ci_high", "p_value", "p_value_holm",
            "test", "correlation"}


def recomputed_p_values(first: Run, second: Run, suite: Suite) -> dict[str, float]:
    """Exact McNemar per benchmark from the two runs' Sample rows alone (a group pools its members' items)."""
    p_values = {}
    for slug in suite.entries:
        score = Score.objects.select_related("benchmark").get(run=first, benchmark__slug=slug, is_primary=True)
        slugs = score.benchmark.task_spec.get("members") or [slug]

        def items(run: Run) -> dict:
            return {(s, doc): metrics[score.metric] for s, doc, metrics in Sample.objects.filter(
                run=run, benchmark__slug__in=slugs).values_list("benchmark__slug", "doc_id", "metrics")}

        a, b = items(first), items(second)
        only_a = sum(a[k] == 1 and b[k] == 0 for k in a.keys() & b.keys())
        only_b = sum(a[k] == 0 and b[k] == 1 for k in a.keys() & b.keys())
        p_values[slug] = scipy_stats.binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    return p_values


def holm(p_values: list[float]) -> list[float]:
    """Holm by hand: the k-th smallest of m times (m − k + 1), running maximum, capped at 1."""
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def assert_matches_samples(payload: dict, first: Run, second: Run, suite: Suite) -> None:
    expected = recomputed_p_values(first, second, suite)
    rows = payload["benchmarks"]
    assert [row["benchmark"] for row in rows] == list(suite.order)
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["test"] == "exact McNemar"
        assert row["p_value"] == pytest.approx(expected[row["benchmark"]], rel=1e-12)
        score_a = Score.objects.get(run=first, benchmark__slug=row["benchmark"], is_primary=True)
        score_b = Score.objects.get(run=second, benchmark__slug=row["benchmark"], is_primary=True)
        assert row["scores"] == {first.model.slug: score_a.value, second.model.slug: score_b.value}
        assert row["n_shared"] == score_a.n == score_b.n
        assert row["delta"] == pytest.approx(score_a.value - score_b.value)
        assert row["ci_low"] <= row["delta"] <= row["ci_high"]
    assert [row["p_value_holm"] for row in rows] == pytest.approx(holm([row["p_value"] for row in rows]))


def test_the_api_p_values_equal_a_recomputation_from_the_stored_samples(client: Client, tmp_path, settings):
    settings.BENCHSITE_RUN_PROBE_REQUESTS = 0
    world = build_compare_world(tmp_path)

    response = client.get(reverse("api:compare"), {"models": "alpha,beta", "suite": world.suite.pk})

    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["models"] == ["alpha", "beta"] and payload["alpha"] == 0.05
    assert payload["suite"] == {"id": world.suite.pk, "slug": "demo", "title": world.suite.title,
                                "version": world.suite.version}
    assert_matches_samples(payload, world.alpha_run, world.beta_run, world.suite)
    assert payload["comparisons"] == [{"model_a": "alpha", "model_b": "beta", "benchmarks": payload["benchmarks"]}]
    mmlu = next(row for row in payload["benchmarks"] if row["benchmark"] == "mmlu")
    assert mmlu["clusters"] == 57
    assert {category["category"] for category in payload["categories"]} == {"reasoning", "knowledge", "math"}


@pytest.fixture
def two_models(db) -> Suite:
    arc = BenchmarkFactory(slug="arc_easy", primary_metric="acc_norm")
    suite = SuiteFactory(slug="standard", order=["arc_easy"])
    for name, right in (("first", 15), ("second", 5), ("third", 10)):
        run = finished_run(ModelEntryFactory(name=name), {"arc_easy": right / 20})
        for doc_id in range(20):
            SampleFactory(run=run, benchmark=arc, doc_id=doc_id, metrics={"acc_norm": float(doc_id < right)})
    return suite


def test_more_models_compare_the_first_with_each_and_holm_runs_over_all_tests(client: Client, two_models):
    payload = client.get(reverse("api:compare"), {"models": "first,second,third"}).json()

    pairs = payload["comparisons"]
    assert [(pair["model_a"], pair["model_b"]) for pair in pairs] == [("first", "second"), ("first", "third")]
    assert payload["benchmarks"] == pairs[0]["benchmarks"]
    # first − second: 10 items only first got right, none the other way: p = 2/2¹⁰.
    (first_second,), (first_third,) = (pair["benchmarks"] for pair in pairs)
    assert first_second["p_value"] == pytest.approx(2 / 2**10) and first_second["delta"] == pytest.approx(0.5)
    assert first_third["p_value"] == pytest.approx(2 / 2**5)
    assert [first_second["p_value_holm"], first_third["p_value_holm"]] == pytest.approx(holm([2 / 2**10, 2 / 2**5]))
    assert first_second["verdict"] == "better"
    assert first_second["scores"] == {"first": 0.75, "second": 0.25}


@pytest.mark.parametrize("query, status, message", [
    ({"models": "first"}, 400, "at least two models"),
    ({}, 400, "required"),
    ({"models": "first,nobody"}, 400, "No model called 'nobody'"),
    ({"models": "first,first"}, 400, "two different models"),
    ({"models": "first,second", "suite": 999999}, 400, "No suite version"),
    ({"models": "first,second", "suite": "abc"}, 400, "valid integer"),
])
def test_bad_queries_are_refused_with_a_reason(client: Client, two_models, query, status, message):
    response = client.get(reverse("api:compare"), query)

    assert response.status_code == status
    assert message in response.content.decode()


def test_without_results_there_is_nothing_to_compare(client: Client, db):
    ModelEntryFactory(name="first")
    ModelEntryFactory(name="second")

    assert client.get(reverse("api:compare"), {"models": "first,second"}).status_code == 404


def test_the_endpoint_is_in_the_openapi_schema(client: Client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/compare/"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"models", "suite"}
    row = schema["components"]["schemas"]["BenchmarkRow"]["properties"]
    assert ROW_KEYS <= set(row)


@pytest.fixture
def bundled(transactional_db, client: Client, settings) -> dict:
    """SmolLM2-135M-Instruct and Gemma 3 270M with llama.cpp on the first items of three multiple-choice
    benchmarks in three categories (so the page draws a radar), the API's answer, and everything the checks need read from the database before Chromium starts
    (an ORM call under Playwright's event loop opens a connection that the teardown never closes)."""
    settings.BENCHSITE_RUN_PROBE_REQUESTS = 0
    limits = {"arc_easy": 10, "openbookqa": 10, "truthfulqa_mc1": 10}
    smollm = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    gemma = model_entries.model_resolve(reference="gemma-3-270m")
    smollm_run, suite = evaluate(smollm, backend="llama_cpp", benchmarks_=list(limits), limits=limits)
    gemma_run, same = evaluate(gemma, backend="llama_cpp", benchmarks_=list(limits), limits=limits)
    assert same == suite
    query = {"models": f"{smollm.slug},{gemma.slug}", "suite": suite.pk}
    response = client.get(reverse("api:compare"), query)
    assert response.status_code == 200, response.content
    assert_matches_samples(response.json(), smollm_run, gemma_run, suite)
    return {"payload": response.json(), "query": query, "suite": suite.pk, "slugs": (smollm.slug, gemma.slug),
            "recomputed": recomputed_p_values(smollm_run, gemma_run, suite)}


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)")
def test_the_bundled_models_p_values_equal_a_recomputation_and_the_page_shows_them(bundled, live_server, page,
                                                                                   capsys):
    from playwright.sync_api import expect

    rows = bundled["payload"]["benchmarks"]
    with capsys.disabled():
        print("\nbundled models, first 10 items:", "; ".join(
            f"{row['benchmark']} Δ {100 * row['delta']:+.0f} [{100 * row['ci_low']:+.0f}, {100 * row['ci_high']:+.0f}] "
            f"p {row['p_value']:.3f} {row.get('verdict')}" for row in rows))
    assert {row["benchmark"]: row["p_value"] for row in rows} == pytest.approx(bundled["recomputed"], rel=1e-12)

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{live_server.url}{reverse('leaderboard:compare')}?models={','.join(bundled['slugs'])}"
              f"&suite={bundled['suite']}")
    for row in rows:
        p = row["p_value"]
        cells = page.locator(f'tr[data-benchmark="{row["benchmark"]}"]')
        expect(cells.locator("td.p-value")).to_have_text(f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")
        expect(cells.locator("td.n-shared")).to_have_text(str(row["n_shared"]))
    expect(page.locator("#radar-chart .main-svg").first).to_be_visible()
    expect(page.locator("#radar-chart .polarlayer .trace")).to_have_count(2)  # a radar, one trace per model
    page.screenshot(path="/tmp/compare-bundled.png", full_page=True)
