"""/recommend/: the whole page, the HTMX results fragment, and a use case that resets the weight fields."""
from __future__ import annotations

from django.urls import reverse


def test_page_ranks_candidates_lists_exclusions_and_draws_the_chart(market, client):
    response = client.get(reverse("recommender:recommend"), {"hardware": "test-cpu", "max_memory_gb": "10"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="pareto-chart"' in html and 'id="pareto-table"' in html
    assert '<tr data-model="strong">' in html and '<tr data-model="huge">' in html
    assert "memory 141 GB (estimated) &gt; maximum 10" in html
    assert "secret" not in html


def test_an_htmx_change_gets_only_the_results(market, client):
    response = client.get(reverse("recommender:recommend"), {"hardware": "test-cpu", "w_math": "1", "w_reasoning": "0"},
                          headers={"HX-Request": "true", "HX-Trigger-Name": "w_math"})
    html = response.content.decode()
    assert "<form" not in html and 'id="candidates"' in html
    assert response["Vary"].count("HX-Request") == 1


def test_choosing_a_use_case_swaps_the_whole_form_with_its_weights(market, client):
    response = client.get(reverse("recommender:recommend"), {"use_case": "math", "w_math": "1", "w_reasoning": "9"},
                          headers={"HX-Request": "true", "HX-Trigger-Name": "use_case"})
    assert response["HX-Retarget"] == "#recommender"
    html = response.content.decode()
    assert 'name="w_math" min="0" step="0.5" value="4"' in html  # the math preset's weight, not the typed 1
    assert 'name="w_reasoning" min="0" step="0.5" value="2"' in html


def test_bad_fields_are_shown_next_to_the_form(market, client):
    response = client.get(reverse("recommender:recommend"), {"max_memory_gb": "-1", "seed": "x"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html and "max_memory_gb" in html and "seed" in html


def test_the_table_shows_the_first_rows_and_all_on_request(market, client, monkeypatch):
    from recommender import views

    monkeypatch.setattr(views, "TABLE_ROWS", 2)
    html = client.get(reverse("recommender:recommend"), {"hardware": "test-cpu"}).content.decode()
    assert html.count('<tr data-model="') == 2 and "Show all 4 candidates" in html
    everything = client.get(reverse("recommender:recommend"), {"hardware": "test-cpu", "all": "1"}).content.decode()
    assert everything.count('<tr data-model="') == 4 and "Show all" not in everything
