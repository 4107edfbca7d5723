"""Flags on models (private until a moderator confirms them, then on the model's page) and benchmark reviews
(published by a moderator; two approving ones by other people make a benchmark community-verified)."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from community.models import BenchmarkReview, ModelFlag, ModerationLogEntry
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SuiteFactory, finished_run

pytestmark = pytest.mark.django_db


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_a_flag_shows_on_the_model_page_only_once_confirmed(people):
    model = ModelEntryFactory(name="suspect-model")
    url = reverse("community:model_flag_new", args=[model.slug])
    assert client_for().get(url).status_code == 302  # log in first
    response = client_for(people["bob"]).post(url, {"kind": "contamination", "text": "Trained on the ARC test split.",
                                                    "evidence_url": "https://example.org/discussion/1"})
    assert response.status_code == 302
    flag = ModelFlag.objects.get()
    page = reverse("leaderboard:model_detail", args=[model.slug])
    assert "Trained on the ARC test split." not in client_for().get(page).content.decode()
    again = client_for(people["bob"]).post(url, {"kind": "contamination", "text": "again"})
    assert again.status_code == 409

    resolve = reverse("community:flag_moderate", args=[flag.pk])
    assert client_for(people["bob"]).post(resolve, {"decision": "confirm", "reason": "x"}).status_code == 403
    client_for(people["mod"]).post(resolve, {"decision": "confirm", "reason": ""})
    flag.refresh_from_db()
    assert flag.state == ModelFlag.State.OPEN  # a reason is required
    client_for(people["mod"]).post(resolve, {"decision": "confirm", "reason": "The overlap is documented."})
    html = client_for().get(page).content.decode()
    assert "Flagged: Contaminated (trained on test data)." in html and "The overlap is documented." in html
    entry = ModerationLogEntry.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == ("flag.confirm", people["mod"], flag.pk)


def test_a_confirmed_flag_is_marked_on_the_leaderboard(people):
    flagged, clean = ModelEntryFactory(name="flagged-model"), ModelEntryFactory(name="clean-model")
    SuiteFactory(order=["arc_easy"])
    for model in (flagged, clean):
        finished_run(model, {"arc_easy": 0.6})
    flag = ModelFlag.objects.create(model=flagged, author=people["bob"], kind="merge", text="a merge")
    board = client_for().get(reverse("leaderboard:index")).content.decode()
    assert "⚑ flagged" not in board  # open flags stay with the moderators
    client_for(people["mod"]).post(reverse("community:flag_moderate", args=[flag.pk]),
                                   {"decision": "confirm", "reason": "Its card says so."})
    board = client_for().get(reverse("leaderboard:index")).content.decode()
    assert board.count("⚑ flagged") == 1
    row = board[board.index('data-model="flagged-model"'):]
    assert row.index("⚑ flagged") < row.index("</tr>")


def test_reviews_are_published_by_a_moderator_and_two_approving_ones_verify(people):
    BenchmarkFactory(slug="arc_easy", title="ARC Easy")
    url = reverse("community:benchmark_reviews", args=["arc_easy"])
    assert client_for().get(url).status_code == 200
    assert client_for().post(url, {"rating": 5}).status_code == 302  # to the login page
    for user, rating in ((people["alice"], 5), (people["bob"], 4)):
        assert client_for(user).post(url, {"rating": rating, "text": f"{user.username} says fine"}).status_code == 302
    assert client_for(people["alice"]).post(url, {"rating": 9}).status_code == 400

    # Pending reviews: seen by their author only.
    assert "bob says fine" not in client_for(people["alice"]).get(url).content.decode()
    assert "bob says fine" in client_for(people["bob"]).get(url).content.decode()
    assert "community-verified" not in client_for().get(url).content.decode()

    queue = client_for(people["staff"]).get(reverse("community:moderation")).content.decode()
    for review in BenchmarkReview.objects.all():
        assert f'data-review="{review.pk}"' in queue
        client_for(people["staff"]).post(reverse("community:review_moderate", args=[review.pk]),
                                         {"decision": "approve"})
    html = client_for().get(url).content.decode()
    assert "alice says fine" in html and "bob says fine" in html and "community-verified" in html
    assert "Average rating 4.5/5" in html
    listing = client_for().get(reverse("community:benchmark_list")).content.decode()
    assert "ARC Easy" in listing and "4.5/5" in listing

    # A rewrite goes back to the moderator.
    client_for(people["bob"]).post(url, {"rating": 2, "text": "changed my mind"})
    assert "changed my mind" not in client_for().get(url).content.decode()
    assert "community-verified" not in client_for().get(url).content.decode()
