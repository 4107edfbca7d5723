"""Regressions: when a run finishes, each benchmark is compared with the model's previous run of the same
configuration (for its first one, its base model's: a new revision against its predecessor) on the items both
answered, and a real drop is recorded and announced (email, webhooks).

A drop is real when the paired bootstrap interval of new − baseline lies wholly below −δ (above +δ for a
lower-is-better metric), δ = BENCHSITE_REGRESSION_DELTA_POINTS points of the metric's range. The interval's
level is Bonferroni-corrected over the run's compared benchmarks (1 − α/m), so a run of six benchmarks that
differ from their baselines only by noise raises an alert less than α of the time in all.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import math
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q

from evaluations import statistics
from evaluations.models import (
    Benchmark, ModelEntry, Regression, RegressionNotification, RegressionWatch, Run, RunStatus, Sample, Score,
)
from evaluations.selectors import visible_runs

NOTIFY_TASK = "evaluations.tasks.regression_notify"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One benchmark of a run against its baseline, alert or not (what regressions_detect decided on)."""

    benchmark: Benchmark
    score: Score
    baseline: Score
    n_shared: int
    delta: float
    interval: statistics.Interval
    test: statistics.TestResult
    threshold: float

    @property
    def is_regression(self) -> bool:
        if self.score.higher_is_better:
            return self.interval.high < -self.threshold
        return self.interval.low > self.threshold


# -- detection ----------------------------------------------------------------------------------
def regressions_after_finish(*, run_id: int) -> None:
    """The hook `run_finish_if_complete` calls: a detection error is logged, never fails the finished run."""
    try:
        regressions_detect(run=Run.objects.select_related("model").get(pk=run_id))
    except Exception:
        logger.exception("regression detection failed for run %s", run_id)


def regressions_detect(*, run: Run) -> list[Regression]:
    """Record the run's regressions against its baselines (idempotent) and notify on commit. The new rows."""
    if run.status != RunStatus.FINISHED:
        return []
    findings = regression_findings(run=run)
    created: list[Regression] = []
    with transaction.atomic():
        for finding in findings:
            if not finding.is_regression:
                continue
            regression, was_created = Regression.objects.get_or_create(
                run=run, benchmark=finding.benchmark,
                defaults=dict(
                    baseline_run_id=finding.baseline.run_id, model_id=run.model_id, metric=finding.score.metric,
                    config_key=finding.score.config_key, value=finding.score.value,
                    baseline_value=finding.baseline.value, n_shared=finding.n_shared, delta=finding.delta,
                    ci_low=finding.interval.low, ci_high=finding.interval.high, ci_level=finding.interval.level,
                    p_value=finding.test.p_value, test=finding.test.test, threshold=finding.threshold,
                ),
            )
            if was_created:
                created.append(regression)
    ids = [regression.pk for regression in created]
    if ids:
        transaction.on_commit(lambda: _enqueue_notifications(ids))
    return created


def regression_findings(*, run: Run, seed: int = statistics.BOOTSTRAP_SEED) -> list[Finding]:
    """Every top-level benchmark of the run that has a baseline, with the paired comparison against it."""
    scores = list(Score.objects.filter(run=run, is_primary=True).select_related("benchmark"))
    in_groups = {member for score in scores if score.benchmark.is_group
                 for member in score.benchmark.task_spec.get("members", ())}
    pairs = [(score, baseline) for score in scores if score.benchmark.slug not in in_groups
             for baseline in [_baseline(run, score)] if baseline is not None]
    level = 1 - statistics.ALPHA / max(1, len(pairs))
    findings = []
    for score, baseline in pairs:
        benchmark = score.benchmark
        slugs = tuple(benchmark.task_spec.get("members", ())) if benchmark.is_group else (benchmark.slug,)
        new_items = _item_values(run.pk, slugs, score.metric)
        old_items = _item_values(baseline.run_id, slugs, score.metric)
        shared = sorted(new_items.keys() & old_items.keys())
        new = [new_items[key] for key in shared]
        old = [old_items[key] for key in shared]
        clusters = [slug for slug, _ in shared] if benchmark.is_group else None
        interval = statistics.paired_bootstrap_ci(new, old, clusters=clusters, level=level, seed=seed)
        if interval is None:
            continue  # fewer than two shared items (or clusters): nothing can be said
        findings.append(Finding(
            benchmark, score, baseline, len(shared), statistics.paired_difference(new, old).delta, interval,
            statistics.paired_test(new, old), regression_threshold(score),
        ))
    return findings


def regression_threshold(score: Score) -> float:
    """δ in the metric's own units: points of its range (1 point of a 0–1 accuracy is 0.01)."""
    return settings.BENCHSITE_REGRESSION_DELTA_POINTS / 100 * (score.scale_max - score.scale_min)


def _baseline(run: Run, score: Score) -> Score | None:
    """The model's latest earlier finished run with this benchmark configuration that the run's audience sees;
    for a model's first run of it, its predecessor's (`base_model`: the revision or model it was derived from).

    A public run is compared with public runs only, so an alert never reveals a private one.
    """
    candidates = Run.objects.filter(is_private=False) if not run.is_private else visible_runs(run.created_by)
    same = Score.objects.filter(
        is_primary=True, benchmark__slug=score.benchmark.slug, metric=score.metric, config_key=score.config_key,
        run__status=RunStatus.FINISHED, run__in=candidates, run__finished_at__lt=run.finished_at,
    ).exclude(run_id=run.pk).order_by("-run__finished_at", "-run_id")
    own = same.filter(run__model_id=run.model_id).first()
    if own is not None or run.model.base_model_id is None:
        return own
    return same.filter(run__model_id=run.model.base_model_id).first()


def _item_values(run_id: int, slugs: Sequence[str], metric: str) -> dict[tuple[str, int], float]:
    values = {}
    rows = Sample.objects.filter(run_id=run_id, benchmark__slug__in=list(slugs)).values_list(
        "benchmark__slug", "doc_id", "metrics")
    for slug, doc_id, metrics in rows:
        value = (metrics or {}).get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            values[(slug, doc_id)] = float(value)
    return values


def _enqueue_notifications(regression_ids: list[int]) -> None:
    # Looked up by name: the task module imports the services, not the other way round.
    if NOTIFY_TASK not in current_app.tasks:
        current_app.loader.import_default_modules()
    for regression_id in regression_ids:
        current_app.tasks[NOTIFY_TASK].delay(regression_id)


# -- watches and notifications -------------------------------------------------------------------
def regression_watch_set(*, user, model: ModelEntry, email: bool, webhook_url: str = "") -> RegressionWatch | None:
    """Subscribe a user to a model's regressions (email and/or a webhook); neither channel unsubscribes."""
    webhook_url = webhook_url.strip()
    if webhook_url:
        URLValidator(schemes=["http", "https"])(webhook_url)
        refusal = _private_address(webhook_url)
        if refusal:
            raise ValidationError(refusal)
    if not email and not webhook_url:
        RegressionWatch.objects.filter(user=user, model=model).delete()
        return None
    watch, _ = RegressionWatch.objects.update_or_create(
        user=user, model=model, defaults={"email": email, "webhook_url": webhook_url})
    return watch


def regression_payload(regression: Regression) -> dict:
    """What an alert says, as the webhook's JSON body and the email's facts."""
    return {
        "event": "regression", "model": regression.model.slug, "benchmark": regression.benchmark.slug,
        "metric": regression.metric, "run_id": regression.run_id, "baseline_run_id": regression.baseline_run_id,
        "value": regression.value, "baseline_value": regression.baseline_value, "delta": regression.delta,
        "ci_low": regression.ci_low, "ci_high": regression.ci_high, "ci_level": regression.ci_level,
        "p_value": regression.p_value, "test": regression.test, "n_shared": regression.n_shared,
        "threshold": regression.threshold, "detected_at": regression.created_at.isoformat(),
    }


def regression_notify(*, regression_id: int) -> list[RegressionNotification]:
    """Email and POST the alert to everyone entitled to see the run; each attempt recorded, failures too.

    Targets already delivered are skipped, so a redelivered task sends nothing twice.
    """
    regression = (Regression.objects.select_related("model", "benchmark", "run__created_by")
                  .filter(pk=regression_id).first())
    if regression is None:
        return []
    delivered = set(regression.notifications.filter(delivered=True).values_list("channel", "target"))
    payload = regression_payload(regression)
    attempts = []
    for channel, target in _targets(regression):
        if (channel, target) in delivered:
            continue
        error = _send_email(target, payload) if channel == RegressionNotification.Channel.EMAIL \
            else _post_webhook(target, payload)
        attempts.append(RegressionNotification.objects.create(
            regression=regression, channel=channel, target=target, delivered=not error, error=error))
    return attempts


def _targets(regression: Regression) -> list[tuple[str, str]]:
    """(channel, target) pairs: the run's owner by email, and every watcher of the model who may see the run."""
    targets: list[tuple[str, str]] = []
    owner = regression.run.created_by
    if owner is not None and owner.email:
        targets.append((RegressionNotification.Channel.EMAIL, owner.email))
    watches = RegressionWatch.objects.filter(model_id=regression.model_id).select_related("user").order_by("pk")
    for watch in watches:
        if not visible_runs(watch.user).filter(Q(pk=regression.run_id)).exists():
            continue  # a private run's regression reaches only those who may see the run
        if watch.email and watch.user.email:
            targets.append((RegressionNotification.Channel.EMAIL, watch.user.email))
        if watch.webhook_url:
            targets.append((RegressionNotification.Channel.WEBHOOK, watch.webhook_url))
    return list(dict.fromkeys(targets))


def _send_email(address: str, payload: dict) -> str:
    subject = f"[benchsite] {payload['model']} regressed on {payload['benchmark']} (run {payload['run_id']})"
    body = (
        f"Run {payload['run_id']} of {payload['model']} scored {payload['value']:.4f} on {payload['benchmark']} "
        f"({payload['metric']}); its baseline, run {payload['baseline_run_id']}, scored {payload['baseline_value']:.4f}.\n"
        f"Paired difference over {payload['n_shared']} shared items: {payload['delta']:+.4f}, "
        f"{payload['ci_level']:.1%} interval [{payload['ci_low']:+.4f}, {payload['ci_high']:+.4f}] "
        f"({payload['test']} p = {payload['p_value']}); alerts need the interval beyond ±{payload['threshold']:.4f}.\n"
    )
    try:
        send_mail(subject, body, None, [address])
    except Exception as exc:  # recorded on the notification; the alert itself stands
        return f"{type(exc).__name__}: {exc}"[:2000]
    return ""


def _private_address(url: str) -> str:
    """Why the workers may not POST to this URL (it resolves to a loopback, private or link-local address, so a
    webhook could reach the site's own network), or "" when it is fine or BENCHSITE_ALLOW_PRIVATE_ENDPOINTS."""
    if settings.BENCHSITE_ALLOW_PRIVATE_ENDPOINTS:
        return ""
    parts = urlsplit(url)
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError, TypeError):
        return f"{parts.hostname} does not resolve"
    if any(not ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses):
        return f"{parts.hostname} is a private or local address; webhooks go to public addresses only"
    return ""


def _post_webhook(url: str, payload: dict) -> str:
    refusal = _private_address(url)  # checked again at sending: the name may resolve elsewhere now
    if refusal:
        return f"refused: {refusal}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "benchsite"})
    try:
        with urllib.request.urlopen(request, timeout=settings.BENCHSITE_WEBHOOK_TIMEOUT_S) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except (OSError, ValueError) as exc:  # refused, timed out, unresolvable, malformed
        return f"{type(exc).__name__}: {exc}"[:2000]
    return ""

