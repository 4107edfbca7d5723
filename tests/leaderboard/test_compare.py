"""The compare page and its service: paired statistics from the runs' stored samples, Holm, verdicts, privacy,
the radar chart and the disagreement browser.

The first tests compare two models evaluated through the real services (tests/stats/compare_world.py); the
others build rows with factories for cases the stand-in cannot produce (continuous scores, private runs).
"""
from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from scipy import stats as scipy_stats

from evaluations import compare, statistics
from evaluations.models import Sample, Score
from leaderboard import selectors
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SampleFactory, SuiteFactory, finished_run
from tests.leaderboard.test_browser import CHROMIUM, assert_not_reloaded, mark_document, page  # noqa: F401
from tests.stats.compare_world import LIMITS, CompareWorld, build_compare_world

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
MMLU_SUBJECTS = 57


@pytest.fixture
def world(tmp_path, settings) -> CompareWorld:
    settings.BENCHSITE_RUN_PROBE_REQUESTS = 0
    return build_compare_world(tmp_path)


def item_scores(run_id: int, slugs: list[str], metric: str) -> dict[tuple[str, int], float]:
    """A run's per-item scores read straight from its stored samples."""
    return {(slug, doc_id): metrics[metric] for slug, doc_id, metrics in
            Sample.objects.filter(run_id=run_id, benchmark__slug__in=slugs)
            .values_list("benchmark__slug", "doc_id", "metrics")}


def recomputed(world: CompareWorld, slug: str, metric: str, members: list[str] | None = None) -> dict:
    """Δ and the exact McNemar p-value of alpha − beta from the samples, without evaluations.compare."""
    slugs = members or [slug]
    a = item_scores(world.alpha_run.pk, slugs, metric)
    b = item_scores(world.beta_run.pk, slugs, metric)
    shared = sorted(a.keys() & b.keys())
    only_a = sum(a[k] == 1 and b[k] == 0 for k in shared)
    only_b = sum(a[k] == 0 and b[k] == 1 for k in shared)
    p = scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"n": len(shared), "delta": sum(a[k] - b[k] for k in shared) / len(shared), "p": p,
            "discordant": (only_a, only_b)}


def text(page: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())


# -- the service on real runs ----------------------------------------------------------------------
def test_each_benchmark_pairs_the_runs_items_tests_them_exactly_and_is_seeded(world: CompareWorld):
    comparison = compare.model_comparison(models=[world.alpha, world.beta], suite=world.suite, user=None)
    (pair,) = comparison.pairs
    rows = {row.benchmark.slug: row for row in pair.rows}
    members = list(rows["mmlu"].benchmark.members)

    assert [row.benchmark.slug for row in pair.rows] == ["arc_easy", "mmlu", "gsm8k"]
    assert len(members) == MMLU_SUBJECTS
    expected = {"arc_easy": recomputed(world, "arc_easy", "acc_norm"),
                "mmlu": recomputed(world, "mmlu", "acc", members),
                "gsm8k": recomputed(world, "gsm8k", "exact_match,strict-match")}
    assert {slug: e["n"] for slug, e in expected.items()} == {
        "arc_easy": LIMITS["arc_easy"], "mmlu": LIMITS["mmlu"] * MMLU_SUBJECTS, "gsm8k": LIMITS["gsm8k"]}
    for slug, row in rows.items():
        assert row.test == statistics.MCNEMAR
        assert row.n_shared == expected[slug]["n"]
        assert row.delta == pytest.approx(expected[slug]["delta"])
        assert row.p_value == pytest.approx(expected[slug]["p"], rel=1e-12)
        assert row.discordant == expected[slug]["discordant"] and row.n_differing == sum(row.discordant)
        assert row.ci_low <= row.delta <= row.ci_high
        # Every item of the suite's configuration is shared, so Δ is the difference of the stored scores.
        score_a = Score.objects.get(run=world.alpha_run, benchmark__slug=slug, is_primary=True)
        score_b = Score.objects.get(run=world.beta_run, benchmark__slug=slug, is_primary=True)
        assert (row.result_a.value, row.result_b.value) == (score_a.value, score_b.value)
        assert row.delta == pytest.approx(score_a.value - score_b.value)
    assert rows["mmlu"].clusters == MMLU_SUBJECTS and rows["arc_easy"].clusters is None
    assert rows["mmlu"].benchmark.cluster_label == "subject"
    holm = statistics.holm([rows[slug].p_value for slug in ("arc_easy", "mmlu", "gsm8k")])
    assert [rows[slug].p_value_holm for slug in ("arc_easy", "mmlu", "gsm8k")] == pytest.approx(holm)
    for row in rows.values():
        assert row.verdict == (compare.TIED if row.p_value_holm >= 0.05 else
                               compare.BETTER if row.delta > 0 else compare.WORSE)

    # Seeded (the same intervals every time) and symmetric (B − A is −(A − B) with the same test).
    again = compare.model_comparison(models=[world.alpha, world.beta], suite=world.suite, user=None).pairs[0]
    backward = compare.model_comparison(models=[world.beta, world.alpha], suite=world.suite, user=None).pairs[0]
    assert [row.as_dict() for row in pair.rows] == [row.as_dict() for row in again.rows]
    for ab, ba in zip(pair.rows, backward.rows):
        assert ba.delta == pytest.approx(-ab.delta) and ba.p_value == pytest.approx(ab.p_value)
        assert ba.se == pytest.approx(ab.se)


def test_the_page_shows_every_statistic_the_radar_and_the_disagreements(client: Client, world: CompareWorld):
    url = reverse("leaderboard:compare")
    comparison = compare.model_comparison(models=[world.alpha, world.beta], suite=world.suite, user=None)
    html = client.get(url, {"models": "alpha,beta", "suite": world.suite.pk}).content.decode()

    for row in comparison.pairs[0].rows:
        cells = html[html.index(f'data-benchmark="{row.benchmark.slug}"'):]
        cells = cells[:cells.index("</tr>")]
        assert f'<td class="num p-value">{row.p_value:.3f}' in cells or f"{row.p_value:.1e}" in cells
        assert f'<td class="num n-shared">{row.n_shared}</td>' in cells
        assert f"{row.delta * 100:+.1f}" in cells and f"[{row.ci_low * 100:+.1f}, {row.ci_high * 100:+.1f}]" in cells
        assert "exact McNemar" in cells and f'data-verdict="{row.verdict}"' in html
    assert 'id="radar-chart"' in html and '"type":"scatterpolar"' in html
    assert '<tr data-category="reasoning">' in html and '<tr data-category="knowledge">' in html
    assert "clustered by subject (57)" in text(html)
    assert 'aria-current="page">Compare</a>' in html

    mmlu = next(row for row in comparison.pairs[0].rows if row.benchmark.slug == "mmlu")
    items = client.get(reverse("leaderboard:compare_items"),
                       {"models": "alpha,beta", "suite": world.suite.pk, "benchmark": "mmlu"}, **HTMX)
    fragment = items.content.decode()
    assert "<html" not in fragment
    assert f"{mmlu.n_differing} items scored differently" in text(fragment)
    shown = re.findall(r'data-item="(mmlu_[a-z_]+):(\d+)"', fragment)
    assert len(shown) == min(mmlu.n_differing, compare.DISAGREEMENTS_PER_PAGE)
    for slug, doc_id in shown:  # each differs, and both models' answers are there
        a = Sample.objects.get(run=world.alpha_run, benchmark__slug=slug, doc_id=doc_id)
        b = Sample.objects.get(run=world.beta_run, benchmark__slug=slug, doc_id=doc_id)
        assert a.metrics["acc"] != b.metrics["acc"]
    assert fragment.count('class="output" data-model="alpha"') == len(shown)
    assert fragment.count('class="output" data-model="beta"') == len(shown)
    if mmlu.n_differing > compare.DISAGREEMENTS_PER_PAGE:
        assert 'href="/compare/items/?' in fragment and "page=2" in fragment

    # The form (repeated fields, blanks) lands on the canonical URL: redirected, or pushed by HTMX.
    form = {"suite": world.suite.pk, "models": ["alpha", "beta", "", ""]}

    redirect = client.get(url, form)
    fragment = client.get(url, form, **HTMX)

    canonical = f"/compare/?models=alpha,beta&suite={world.suite.pk}"
    assert redirect.status_code == 302 and redirect["Location"] == canonical
    assert fragment.status_code == 200 and fragment["HX-Push-Url"] == canonical
    assert "<html" not in fragment.content.decode() and 'data-pair="alpha-beta"' in fragment.content.decode()
    page = client.get(canonical).content.decode()
    assert '<option value="alpha" selected>' in page and '<option value="beta" selected>' in page


def test_empty_and_wrong_requests_explain_themselves(client: Client, db):
    url = reverse("leaderboard:compare")
    arc = BenchmarkFactory(slug="arc_easy", primary_metric="acc_norm")
    SuiteFactory(slug="standard", order=["arc_easy"])
    for name in ("alpha", "beta"):
        SampleFactory(run=finished_run(ModelEntryFactory(name=name), {"arc_easy": 0.5}), benchmark=arc)

    empty = text(client.get(url).content.decode())
    unknown = text(client.get(url, {"models": "alpha,nobody"}).content.decode())
    items = client.get(reverse("leaderboard:compare_items"), {"models": "alpha,beta", "benchmark": "nope"})

    assert "Choose two to four models" in empty
    assert "No model called 'nobody'." in unknown
    assert items.status_code == 404


# -- cases built with factories --------------------------------------------------------------------
def judged(model_name: str, grades: list[float], suite_variant: str = "standard"):
    model = ModelEntryFactory(name=model_name)
    run = finished_run(model, {"mt_bench": sum(grades) / len(grades)})
    benchmark = BenchmarkFactory(slug="mt_bench")
    for doc_id, grade in enumerate(grades):
        SampleFactory(run=run, benchmark=benchmark, doc_id=doc_id, correct=None, metrics={"score": grade})
    return model, run


def test_continuous_scores_get_the_paired_t_test_on_their_scale(client: Client, db):
    BenchmarkFactory(slug="mt_bench", title="MT-Bench", primary_metric="score")
    suite = SuiteFactory(slug="standard", order=["mt_bench"])
    grades_a = [8, 7.5, 9, 6, 8, 7, 9, 8.5]
    grades_b = [7, 7.0, 8, 6, 6, 6.5, 8, 7.5]
    alpha, _ = judged("judged-a", grades_a)
    beta, _ = judged("judged-b", grades_b)

    (row,) = compare.model_comparison(models=[alpha, beta], suite=suite, user=None).pairs[0].rows
    expected = scipy_stats.ttest_rel(grades_a, grades_b)

    assert row.test == statistics.PAIRED_T and row.discordant is None
    assert row.p_value == pytest.approx(expected.pvalue)
    assert row.delta == pytest.approx(sum(grades_a) / 8 - sum(grades_b) / 8)
    assert row.verdict == compare.BETTER  # p ≈ 0.002, alone in its family
    words = text(client.get(reverse("leaderboard:compare"), {"models": "judged-a,judged-b"}).content.decode())
    assert "+0.88" in words and "paired t-test" in words and "judged-a better" in words


def test_lower_is_better_metrics_flip_the_verdict(db):
    BenchmarkFactory(slug="toxicity", title="Toxicity", primary_metric="toxicity_rate")
    suite = SuiteFactory(slug="standard", order=["toxicity"])
    runs = {}
    for name, toxic in (("rude", 30), ("polite", 2)):
        model = ModelEntryFactory(name=name)
        run = finished_run(model, {"toxicity": toxic / 40})
        Score.objects.filter(run=run).update(metric="toxicity_rate", higher_is_better=False)
        for doc_id in range(40):
            SampleFactory(run=run, benchmark=BenchmarkFactory(slug="toxicity"), doc_id=doc_id,
                          metrics={"toxicity_rate": float(doc_id < toxic)})
        runs[name] = model

    (row,) = compare.model_comparison(models=[runs["rude"], runs["polite"]], suite=suite, user=None).pairs[0].rows

    assert row.delta > 0 and row.p_value < 0.001
    assert row.verdict == compare.WORSE  # more toxic is worse


def test_private_runs_are_compared_only_for_their_owner_and_staff(client: Client, db):
    owner = get_user_model().objects.create_user("owner", password="pw")
    arc = BenchmarkFactory(slug="arc_easy", title="ARC-Easy", primary_metric="acc_norm")
    suite = SuiteFactory(slug="standard", order=["arc_easy"])
    public = finished_run(ModelEntryFactory(name="public-model"), {"arc_easy": 0.5})
    private = finished_run(ModelEntryFactory(name="secret-model"), {"arc_easy": 0.9137}, is_private=True,
                           created_by=owner)
    for run, right in ((public, 10), (private, 18)):
        for doc_id in range(20):
            SampleFactory(run=run, benchmark=arc, doc_id=doc_id, correct=doc_id < right,
                          metrics={"acc_norm": float(doc_id < right)})
    models = [public.model, private.model]
    query = {"models": "public-model,secret-model", "suite": suite.pk}

    anonymous = compare.model_comparison(models=models, suite=suite, user=None).pairs[0].rows[0]
    mine = compare.model_comparison(models=models, suite=suite, user=owner).pairs[0].rows[0]
    client.force_login(owner)
    owner_page = client.get(reverse("leaderboard:compare"), query).content.decode()
    client.logout()
    public_page = client.get(reverse("leaderboard:compare"), query).content.decode()
    public_items = client.get(reverse("leaderboard:compare_items"), {**query, "benchmark": "arc_easy"})

    assert anonymous.result_b is None and anonymous.verdict == compare.NOT_COMPARED and anonymous.n_shared == 0
    assert mine.result_b.run_id == private.pk and mine.n_shared == 20 and mine.discordant == (0, 8)
    assert "91.4" in owner_page and "91.4" not in public_page
    assert f"/runs/{private.pk}/" not in public_page
    assert public_items.status_code == 404

    # A suite version only the owner's private run is keyed for does not exist for anyone else.
    hidden = SuiteFactory(slug="hidden", order=["arc_easy"], variant="mine")
    finished_run(private.model, {"arc_easy": 0.7}, variant="mine", is_private=True, created_by=owner)
    hidden_query = {"models": "public-model,secret-model", "suite": hidden.pk}
    anonymous_page = text(client.get(reverse("leaderboard:compare"), hidden_query).content.decode())
    client.force_login(owner)
    owners_page = client.get(reverse("leaderboard:compare"), hidden_query).content.decode()
    assert f"No suite version '{hidden.pk}'." in anonymous_page and "mine configuration" not in anonymous_page
    assert f'<option value="{hidden.pk}" selected>' in owners_page and "mine configuration" in owners_page


def test_the_page_costs_the_same_queries_with_more_benchmarks_and_items(client: Client, db,
                                                                        django_assert_num_queries):
    def board(slugs: list[str], items: int):
        suite = SuiteFactory(slug=f"s{len(slugs)}", order=slugs)
        for name in ("qa", "qb"):
            run = finished_run(ModelEntryFactory(name=name), {slug: 0.5 for slug in slugs})
            for slug in slugs:
                for doc_id in range(items):
                    SampleFactory(run=run, benchmark=BenchmarkFactory(slug=slug), doc_id=doc_id,
                                  metrics={"acc": float((doc_id + len(name)) % 3 == 0)})
        return suite

    small = board(["arc_easy"], 5)
    selectors.suite_choices()  # the first read after a change rebuilds the stored board (leaderboard.services)
    # Changes since the last read and the suites with results, the models asked for, scores, samples, the
    # form's models; the session is not touched.
    with django_assert_num_queries(6):
        client.get(reverse("leaderboard:compare"), {"models": "qa,qb", "suite": small.pk})
    large = board(["arc_easy", "hellaswag", "winogrande", "boolq"], 30)
    selectors.suite_choices()
    with django_assert_num_queries(6):
        html = client.get(reverse("leaderboard:compare"), {"models": "qa,qb", "suite": large.pk}).content.decode()
    assert html.count("data-benchmark=") == 4


# -- in a real browser -----------------------------------------------------------------------------
@pytest.fixture
def expected(world: CompareWorld) -> compare.Comparison:
    """Read before Playwright starts: an ORM call under its event loop opens a connection nothing closes."""
    return compare.model_comparison(models=[world.alpha, world.beta], suite=world.suite, user=None)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)")
@pytest.mark.django_db(transaction=True)
def test_compare_in_chromium_form_radar_and_disagreements(world: CompareWorld, expected, live_server, page):
    from playwright.sync_api import expect

    comparison = expected
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(live_server.url + reverse("leaderboard:compare"))
    mark_document(page)
    page.get_by_label("Suite version").select_option(str(world.suite.pk))
    page.get_by_label("Model A").select_option("alpha")
    page.get_by_label("Model B").select_option("beta")
    page.get_by_role("button", name="Compare").click()

    rows = page.locator("table.comparison tbody tr")
    expect(rows).to_have_count(3)
    for row in comparison.pairs[0].rows:
        shown = page.locator(f'tr[data-benchmark="{row.benchmark.slug}"] td.p-value')
        p = row.p_value
        expect(shown).to_have_text(f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")
    expect(page.locator("#radar-chart .main-svg").first).to_be_visible()
    expect(page.locator("#radar-chart .polarlayer .trace")).to_have_count(2)  # a radar, one trace per model
    expect(page.locator("table.categories tbody tr")).to_have_count(3)
    assert page.url.endswith(f"/compare/?models=alpha,beta&suite={world.suite.pk}")
    assert_not_reloaded(page)

    page.locator('a[data-items="mmlu"]').click()
    expect(page.locator("#disagreements-heading")).to_contain_text("items where they differ")
    items = page.locator("#disagreements tbody.disagreement")
    mmlu = next(row for row in comparison.pairs[0].rows if row.benchmark.slug == "mmlu")
    expect(items).to_have_count(min(mmlu.n_differing, compare.DISAGREEMENTS_PER_PAGE))
    items.first.locator("summary").click()
    expect(items.first.locator(".output")).to_have_count(2)
    assert_not_reloaded(page)
    page.screenshot(path="/tmp/compare-page.png", full_page=True)
