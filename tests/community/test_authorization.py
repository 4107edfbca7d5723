"""Every community page and action as anonymous, the owner, another user, a moderator (group) and staff."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from community import services
from community.models import BenchmarkReview, BenchmarkSubmission, ModelFlag
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory

pytestmark = pytest.mark.django_db
WHO = ("anonymous", "alice", "bob", "mod", "staff")


@pytest.fixture
def world(people):
    submission = services.submission_create(user=people["alice"], request=services.SubmissionRequest(
        name="Alice model", source="hub", license="mit", owner_consent=True, hub_id="alice/model"))[0]
    model = ModelEntryFactory(name="some-model")
    flag = ModelFlag.objects.create(model=model, author=people["bob"], kind="broken", text="x")
    custom = BenchmarkFactory(slug="alice_bench", submitted_by=people["alice"])
    pending = BenchmarkSubmission.objects.create(benchmark=custom, submitter=people["alice"],
                                                 source_url="https://example.org", license="mit")
    review = BenchmarkReview.objects.create(benchmark=BenchmarkFactory(slug="arc_easy"), author=people["bob"],
                                            rating=4)
    return {"submission": submission, "model": model, "flag": flag, "pending": pending, "review": review}


def client_as(people, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(people[who])
    return client


def test_pages(people, world):
    login = 302
    expected = {  # url: statuses for anonymous, alice (owner), bob (another user), mod, staff
        reverse("community:profile"): (login, 200, 200, 200, 200),
        reverse("community:submission_list"): (200, 200, 200, 200, 200),
        reverse("community:submission_new"): (login, 200, 200, 200, 200),
        reverse("community:submission_detail", args=[world["submission"].pk]): (200, 200, 200, 200, 200),
        reverse("community:moderation"): (login, 403, 403, 200, 200),
        reverse("community:model_flag_new", args=[world["model"].slug]): (login, 200, 200, 200, 200),
        reverse("community:benchmark_list"): (200, 200, 200, 200, 200),
        reverse("community:benchmark_new"): (login, 200, 200, 200, 200),
        reverse("community:benchmark_reviews", args=["alice_bench"]): (404, 200, 404, 200, 200),
        reverse("community:benchmark_reviews", args=["arc_easy"]): (200, 200, 200, 200, 200),
    }
    clients = {who: client_as(people, who) for who in WHO}
    seen = {url: tuple(clients[who].get(url).status_code for who in WHO) for url in expected}
    assert seen == expected


def test_moderation_actions(people, world):
    actions = [
        (reverse("community:submission_moderate", args=[world["submission"].pk]), {"decision": "reject", "reason": "r"}),
        (reverse("community:flag_moderate", args=[world["flag"].pk]), {"decision": "dismiss", "reason": "r"}),
        (reverse("community:review_moderate", args=[world["review"].pk]), {"decision": "approve"}),
        (reverse("community:benchmark_moderate", args=[world["pending"].pk]), {"decision": "approve"}),
    ]
    for url, data in actions:
        assert [client_as(people, who).post(url, data).status_code for who in ("anonymous", "alice", "bob")] == \
            [302, 403, 403], url
        assert client_as(people, "alice").get(url).status_code == 405
        assert client_as(people, "mod").post(url, data).status_code == 302
    world["submission"].refresh_from_db()
    world["flag"].refresh_from_db()
    world["pending"].refresh_from_db()
    assert (world["submission"].state, world["flag"].state, world["pending"].state) == (
        "rejected", "dismissed", "approved")
    assert BenchmarkReview.objects.get().is_approved is True


def test_a_profile_shows_only_its_owner_s_things(people, world):
    alice = client_as(people, "alice").get(reverse("community:profile")).content.decode()
    bob = client_as(people, "bob").get(reverse("community:profile")).content.decode()
    assert f'data-submission="{world["submission"].pk}"' in alice and "alice_bench" in alice
    assert f'data-submission="{world["submission"].pk}"' not in bob and "alice_bench" not in bob
    assert "Review of" in bob and "Review of" not in alice
