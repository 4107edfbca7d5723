"""Regression alerts: a truly worse re-run raises exactly one, a noisy one none; deliveries and privacy."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from evaluations.models import Regression, RegressionNotification, SignedManifest
from evaluations.services import regressions
from tests.history.conftest import abilities, benchmarks, draws, run_with_items, worse
from tests.leaderboard.factories import ModelEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return get_user_model().objects.create_user("owner", "owner@example.org", "pw")


@pytest.fixture
def chances():
    benchmarks()
    return {"arc_easy": abilities(seed=1), "winogrande": abilities(seed=2)}


def baseline_and_new(chances, *, arc_drop_points: float, owner=None, **fields):
    model = ModelEntryFactory(name="tracked")
    baseline = run_with_items(model, {slug: draws(c, seed=10) for slug, c in chances.items()}, days_ago=3,
                              created_by=owner, **fields)
    new = run_with_items(model, {"arc_easy": draws(worse(chances["arc_easy"], arc_drop_points), seed=20),
                                 "winogrande": draws(chances["winogrande"], seed=21)},
                         days_ago=1, created_by=owner, **fields)
    return baseline, new


def test_a_truly_worse_run_raises_exactly_one_alert(chances, owner, django_capture_on_commit_callbacks, monkeypatch):
    baseline, new = baseline_and_new(chances, arc_drop_points=20, owner=owner)
    enqueued = []
    monkeypatch.setattr(regressions, "_enqueue_notifications", enqueued.extend)

    with django_capture_on_commit_callbacks(execute=True):
        created = regressions.regressions_detect(run=new)

    assert [(r.benchmark.slug, r.baseline_run_id, r.run_id) for r in created] == [("arc_easy", baseline.pk, new.pk)]
    regression = Regression.objects.get()
    assert regression.ci_high < -regression.threshold == -0.01
    assert regression.delta < -0.1 and regression.n_shared == 200 and regression.test == "exact McNemar"
    assert regression.ci_level == pytest.approx(1 - 0.05 / 2)  # Bonferroni over arc_easy and winogrande
    assert enqueued == [regression.pk]
    # Detecting again (a redelivered finish) records nothing new and notifies nobody twice.
    assert regressions.regressions_detect(run=new) == []
    assert Regression.objects.count() == 1


def test_a_rerun_that_differs_by_noise_raises_none(chances):
    _, new = baseline_and_new(chances, arc_drop_points=0)

    findings = regressions.regression_findings(run=new)

    assert {f.benchmark.slug for f in findings} == {"arc_easy", "winogrande"}
    assert any(f.delta != 0 for f in findings)  # the runs do differ, by noise
    assert regressions.regressions_detect(run=new) == []
    assert not Regression.objects.exists()


def test_a_drop_smaller_than_delta_is_not_an_alert(chances, settings):
    settings.BENCHSITE_REGRESSION_DELTA_POINTS = 40
    _, new = baseline_and_new(chances, arc_drop_points=20)

    arc = next(f for f in regressions.regression_findings(run=new) if f.benchmark.slug == "arc_easy")

    assert arc.interval.high < 0 and arc.threshold == pytest.approx(0.4)  # significant, but not beyond δ
    assert regressions.regressions_detect(run=new) == []


def test_the_first_run_of_a_configuration_has_no_baseline(chances):
    model = ModelEntryFactory(name="fresh")
    run = run_with_items(model, {"arc_easy": draws(chances["arc_easy"], seed=3)}, days_ago=0)
    other = run_with_items(model, {"arc_easy": draws(chances["arc_easy"], seed=4)}, days_ago=1, variant="subset")

    assert regressions.regression_findings(run=run) == []  # the older run is another configuration
    assert regressions.regression_findings(run=other) == []


def test_a_new_revisions_first_run_is_compared_with_its_predecessor(chances, client):
    old = ModelEntryFactory(name="family-v1")
    new = ModelEntryFactory(name="family-v2", base_model=old)
    stranger = ModelEntryFactory(name="unrelated")
    predecessor = run_with_items(old, {"arc_easy": draws(chances["arc_easy"], seed=7)}, days_ago=5)
    run_with_items(stranger, {"arc_easy": draws(chances["arc_easy"], seed=8)}, days_ago=2)
    first = run_with_items(new, {"arc_easy": draws(worse(chances["arc_easy"], 20), seed=9)}, days_ago=1)

    [regression] = regressions.regressions_detect(run=first)

    assert (regression.baseline_run_id, regression.model_id) == (predecessor.pk, new.pk)
    page = client.get(f"/models/{new.slug}/").content.decode()
    assert f'#{predecessor.pk}</a> <span class="muted small">of <a href="/models/family-v1/">family-v1</a>' in page
    second = run_with_items(new, {"arc_easy": draws(worse(chances["arc_easy"], 20), seed=10)}, days_ago=0)
    assert regressions.regressions_detect(run=second) == []  # now against its own first run: noise only


def test_a_public_run_is_never_compared_with_a_private_baseline(chances, owner):
    model = ModelEntryFactory(name="mixed")
    run_with_items(model, {"arc_easy": draws(chances["arc_easy"], seed=5)}, days_ago=3, is_private=True,
                   created_by=owner)
    public = run_with_items(model, {"arc_easy": draws(worse(chances["arc_easy"], 30), seed=6)}, days_ago=1)

    assert regressions.regressions_detect(run=public) == []


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


def test_alerts_go_by_email_and_webhook_and_failures_are_recorded(chances, owner, webhook_server, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    url, received = webhook_server
    _, new = baseline_and_new(chances, arc_drop_points=20, owner=owner)
    regression = regressions.regressions_detect(run=new)[0]
    users = get_user_model().objects
    watcher = users.create_user("watcher", "watcher@example.org", "pw")
    broken = users.create_user("broken", "", "pw")
    regressions.regression_watch_set(user=watcher, model=new.model, email=True, webhook_url=url)
    regressions.regression_watch_set(user=broken, model=new.model, email=False, webhook_url="http://127.0.0.1:9/no")

    attempts = regressions.regression_notify(regression_id=regression.pk)

    outcome = {(a.channel, a.target): a.delivered for a in attempts}
    assert outcome == {("email", "owner@example.org"): True, ("email", "watcher@example.org"): True,
                       ("webhook", url): True, ("webhook", "http://127.0.0.1:9/no"): False}
    assert RegressionNotification.objects.get(delivered=False).error  # why it failed, recorded
    assert sorted(message.to[0] for message in mail.outbox) == ["owner@example.org", "watcher@example.org"]
    assert "tracked regressed on arc_easy" in mail.outbox[0].subject
    assert received == [regressions.regression_payload(regression)]
    assert received[0]["delta"] < 0 and received[0]["baseline_run_id"] != received[0]["run_id"]

    # Redelivered: only the failed webhook is tried again.
    again = regressions.regression_notify(regression_id=regression.pk)
    assert [(a.channel, a.target, a.delivered) for a in again] == [("webhook", "http://127.0.0.1:9/no", False)]
    assert len(mail.outbox) == 2 and len(received) == 1


def test_a_private_runs_alert_reaches_only_who_may_see_it(chances, owner, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _, new = baseline_and_new(chances, arc_drop_points=20, owner=owner, is_private=True)
    stranger = get_user_model().objects.create_user("stranger", "stranger@example.org", "pw")
    regressions.regression_watch_set(user=stranger, model=new.model, email=True)
    regression = regressions.regressions_detect(run=new)[0]

    regressions.regression_notify(regression_id=regression.pk)

    assert [message.to for message in mail.outbox] == [["owner@example.org"]]


def test_a_watch_needs_an_http_url_and_no_channel_unsubscribes(owner):
    from django.core.exceptions import ValidationError

    model = ModelEntryFactory(name="watched")
    with pytest.raises(ValidationError):
        regressions.regression_watch_set(user=owner, model=model, email=True, webhook_url="file:///etc/passwd")
    assert regressions.regression_watch_set(user=owner, model=model, email=True).email is True
    assert regressions.regression_watch_set(user=owner, model=model, email=False) is None
    assert not model.watches.exists()


def test_finishing_a_run_detects_its_regressions(monkeypatch, settings, tmp_path):
    """Through the real finish path: two runs of one plan with the test stand-in backend, the first one's stored
    answers then made all right, so the second (the same answers as the first had) is truly worse."""
    from evaluations.models import Sample
    from evaluations.services import plans, runs, shards

    settings.BENCHSITE_SIGNING_KEY = str(tmp_path / "ed25519.pem")
    weights = tmp_path / "stand-in.gguf"
    weights.write_bytes(b"not a model: the test backend never reads it")
    model = ModelEntryFactory(name="stand-in", location=str(weights))
    plan = plans.run_plan(model=model, backend="fake", benchmarks=["arc_easy"], limit=30)
    enqueued = []
    monkeypatch.setattr(regressions, "_enqueue_notifications", enqueued.extend)
    first = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    assert not Regression.objects.exists()
    Sample.objects.filter(run=first).update(metrics={"acc": 1.0, "acc_norm": 1.0}, correct=True)

    second = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)

    regression = Regression.objects.get()
    assert (regression.run_id, regression.baseline_run_id, regression.benchmark.slug) == (second.pk, first.pk,
                                                                                          "arc_easy")
    assert regression.ci_high < -0.01 and regression.n_shared == 30
    # The same finish signs each run's manifest.
    assert set(SignedManifest.objects.values_list("run_id", flat=True)) == {first.pk, second.pk}


def test_webhooks_to_private_addresses_are_refused_unless_allowed(chances, owner, webhook_server, settings):
    from django.core.exceptions import ValidationError

    url, received = webhook_server
    _, new = baseline_and_new(chances, arc_drop_points=20)
    regression = regressions.regressions_detect(run=new)[0]
    regressions.regression_watch_set(user=owner, model=new.model, email=False, webhook_url=url)  # allowed here
    settings.BENCHSITE_ALLOW_PRIVATE_ENDPOINTS = False

    with pytest.raises(ValidationError, match="private or local address"):
        regressions.regression_watch_set(user=owner, model=new.model, email=False, webhook_url=url)
    [attempt] = regressions.regression_notify(regression_id=regression.pk)

    assert not attempt.delivered and attempt.error.startswith("refused: 127.0.0.1 is a private")
    assert received == []


def test_the_notify_task_is_found_by_name_and_delivers(chances, owner, settings):
    from celery import current_app

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _, new = baseline_and_new(chances, arc_drop_points=20, owner=owner)
    regression = regressions.regressions_detect(run=new)[0]
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        regressions._enqueue_notifications([regression.pk])
    finally:
        current_app.conf.task_always_eager = eager

    assert list(regression.notifications.values_list("channel", "target", "delivered")) == [
        ("email", "owner@example.org", True)]
