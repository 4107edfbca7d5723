"""Community reads: a person's runs, token and submissions, the public requests log, the moderation queue,
benchmark reviews."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Avg, Count, Prefetch, Q, QuerySet
from rest_framework.authtoken.models import Token

from community.models import (
    BenchmarkReview, BenchmarkSubmission, ModelFlag, ModerationLogEntry, Submission, SubmissionEvent, SubmissionState,
)
from evaluations.models import Benchmark, Run
from evaluations.selectors import visible_runs

PROFILE_RUNS = 100


def profile_runs(*, user) -> QuerySet[Run]:
    """The user's own runs, newest first, private ones included (they are the owner)."""
    return (visible_runs(user).filter(created_by=user).select_related("model", "suite")
            .order_by("-created_at")[:PROFILE_RUNS])


def api_token_for(*, user) -> Token | None:
    return Token.objects.filter(user=user).first()


# -- model submissions and moderation ------------------------------------------------------------------
SUBMISSIONS_PER_PAGE = 50
MODERATION_LOG_ROWS = 100


def submission_list(*, state: str | None = None) -> QuerySet[Submission]:
    """The public requests log: every submission with its state and reason, newest first."""
    submissions = Submission.objects.select_related("submitter", "model").order_by("-created_at", "-pk")
    if state in SubmissionState.values:
        submissions = submissions.filter(state=state)
    return submissions


def submission_state_counts() -> dict[str, int]:
    counts = dict(Submission.objects.order_by().values_list("state").annotate(n=Count("pk")))
    return {state: counts.get(state, 0) for state in SubmissionState.values}


def submission_detail(*, submission_id: int) -> Submission | None:
    return (Submission.objects.select_related("submitter", "model", "run")
            .prefetch_related(Prefetch("events", queryset=SubmissionEvent.objects.select_related("actor")))
            .filter(pk=submission_id).first())


def submission_run(*, submission: Submission, user) -> Run | None:
    """The submission's run if this viewer may see it (the same rule as every run page)."""
    if submission.run_id is None:
        return None
    return visible_runs(user).filter(pk=submission.run_id).first()


def profile_submissions(*, user) -> QuerySet[Submission]:
    return Submission.objects.filter(submitter=user).select_related("model").order_by("-created_at", "-pk")


def profile_benchmark_submissions(*, user) -> QuerySet[BenchmarkSubmission]:
    return BenchmarkSubmission.objects.filter(submitter=user).select_related("benchmark").order_by("-created_at")


def profile_reviews(*, user) -> QuerySet[BenchmarkReview]:
    return BenchmarkReview.objects.filter(author=user).select_related("benchmark").order_by("-created_at")


def moderation_queue() -> QuerySet[Submission]:
    """Submissions waiting for a moderator, oldest first (first come, first served)."""
    return (Submission.objects.filter(state=SubmissionState.VALIDATED).select_related("submitter")
            .order_by("created_at", "pk"))


def open_flags() -> QuerySet[ModelFlag]:
    return ModelFlag.objects.filter(state=ModelFlag.State.OPEN).select_related("model", "author").order_by(
        "created_at", "pk")


def confirmed_flags(*, model) -> QuerySet[ModelFlag]:
    return ModelFlag.objects.filter(model=model, state=ModelFlag.State.CONFIRMED).order_by("-resolved_at")


def moderation_log() -> QuerySet[ModerationLogEntry]:
    return ModerationLogEntry.objects.select_related("actor").order_by("-created_at", "-pk")[:MODERATION_LOG_ROWS]


# -- benchmark reviews ---------------------------------------------------------------------------------
# A benchmark is community-verified with this many moderator-approved reviews rating it at least
# VERIFYING_RATING, by different people other than its author.
VERIFYING_REVIEWS = 2
VERIFYING_RATING = 4


@dataclass(frozen=True)
class BenchmarkReviews:
    slug: str
    title: str
    versions: list[Benchmark]
    reviews: list[BenchmarkReview]  # approved ones, and the viewer's own pending one
    own: BenchmarkReview | None
    average: float | None
    verified: bool
    is_author: bool  # the viewer wrote the benchmark, and so does not review it


def visible_benchmarks(user) -> QuerySet[Benchmark]:
    """Benchmarks a person may see: built-in and approved ones; a submitted one only by its author and moderators
    until it is approved."""
    benchmarks = Benchmark.objects.all()
    if user is not None and user.is_authenticated and (user.is_staff or user.groups.filter(
            name=settings.BENCHSITE_MODERATOR_GROUP).exists()):
        return benchmarks
    hidden = Q(submission__isnull=False) & ~Q(submission__state=BenchmarkSubmission.State.APPROVED)
    if user is not None and user.is_authenticated:
        hidden &= ~Q(submission__submitter=user)
    return benchmarks.exclude(hidden)


def benchmark_reviews(*, slug: str, user) -> BenchmarkReviews | None:
    versions = list(visible_benchmarks(user).filter(slug=slug).select_related("submission")
                    .order_by("-created_at", "-pk"))
    if not versions:
        return None
    visible = Q(is_approved=True)
    if user is not None and user.is_authenticated:
        visible |= Q(author=user)
    reviews = list(BenchmarkReview.objects.filter(visible, benchmark__slug=slug)
                   .select_related("author", "benchmark").order_by("-created_at", "-pk"))
    approved = [review for review in reviews if review.is_approved]
    own = next((r for r in reviews if user is not None and user.is_authenticated and r.author_id == user.pk), None)
    authors = {v.submitted_by_id for v in versions}
    verifying = {r.author_id for r in approved if r.rating >= VERIFYING_RATING and r.author_id not in authors}
    return BenchmarkReviews(
        slug=slug, title=versions[0].title or slug, versions=versions, reviews=reviews, own=own,
        average=sum(r.rating for r in approved) / len(approved) if approved else None,
        verified=len(verifying) >= VERIFYING_REVIEWS,
        is_author=user is not None and user.is_authenticated and user.pk in authors,
    )


def benchmark_overview(*, user) -> list[dict]:
    """Each benchmark slug once (its newest visible version's title and category) with its approved reviews'
    figures and, for a submitted one, its state."""
    stats = {row["benchmark__slug"]: row for row in BenchmarkReview.objects.filter(is_approved=True)
             .values("benchmark__slug").annotate(n=Count("pk"), average=Avg("rating"))}
    rows: dict[str, dict] = {}
    for benchmark in (visible_benchmarks(user).filter(is_group=False).select_related("submission")
                      .order_by("category", "slug", "-created_at")):
        submission = getattr(benchmark, "submission", None)
        rows.setdefault(benchmark.slug, {"slug": benchmark.slug, "title": benchmark.title or benchmark.slug,
                                         "category": benchmark.category,
                                         "state": submission.state if submission else "",
                                         "reviews": stats.get(benchmark.slug, {}).get("n", 0),
                                         "average": stats.get(benchmark.slug, {}).get("average")})
    return list(rows.values())


def pending_reviews() -> QuerySet[BenchmarkReview]:
    return BenchmarkReview.objects.filter(is_approved=False).select_related("author", "benchmark").order_by(
        "created_at", "pk")


def pending_benchmarks() -> QuerySet[BenchmarkSubmission]:
    return (BenchmarkSubmission.objects.filter(state=BenchmarkSubmission.State.PENDING)
            .select_related("benchmark", "submitter").order_by("created_at", "pk"))
