"""Community pages: a person's profile and API token, model submission and its public status, moderation."""
from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from community import selectors, services
from community.forms import BenchmarkForm, FlagForm, ReviewForm, SubmissionForm
from community.models import BenchmarkReview, BenchmarkSubmission, ModelFlag, Submission, SubmissionState
from community.uploads import CappedUploadHandler, human_size, request_limit
from evaluations.models import ModelEntry

# The new key travels to the next page in the session, once, so a reload does not show it again.
NEW_TOKEN_SESSION_KEY = "community_new_api_token"


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    context = {
        "runs": selectors.profile_runs(user=request.user),
        "submissions": selectors.profile_submissions(user=request.user),
        "benchmark_submissions": selectors.profile_benchmark_submissions(user=request.user),
        "reviews": selectors.profile_reviews(user=request.user),
        "token": selectors.api_token_for(user=request.user),
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
    }
    return render(request, "account/profile.html", context)


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    token = services.api_token_create(user=request.user)
    request.session[NEW_TOKEN_SESSION_KEY] = token.key
    messages.success(request, _("A new API token was created; copy it now, it is shown only once."))
    return redirect("community:profile")


@login_required
@require_POST
def token_revoke(request: HttpRequest) -> HttpResponse:
    if services.api_token_revoke(user=request.user):
        messages.success(request, _("Your API token was revoked."))
    return redirect("community:profile")


def submission_list(request: HttpRequest) -> HttpResponse:
    """The public requests log: every submission, its state and, when it stopped, why."""
    state = request.GET.get("state", "")
    page = Paginator(selectors.submission_list(state=state), selectors.SUBMISSIONS_PER_PAGE).get_page(
        request.GET.get("page"))
    return render(request, "community/submission_list.html",
                  {"page": page, "state": state, "counts": selectors.submission_state_counts()})


def submission_detail(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = selectors.submission_detail(submission_id=submission_id)
    if submission is None:
        raise Http404("No such submission")
    context = {"submission": submission, "run": selectors.submission_run(submission=submission, user=request.user),
               "can_moderate": services.is_moderator(request.user), "states": SubmissionState.values}
    # The status fragment polls the page's own URL; a history restore asks for the whole page.
    fragment = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(request, "community/_submission_status.html" if fragment else
                      "community/submission_detail.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def capped_uploads(view):
    """Uploads stream to disk under their caps (community.uploads) and CSRF is checked after that handler is in
    place (the check reads the body); files not moved into a submission's folder are deleted afterwards."""
    protected = csrf_protect(view)

    @csrf_exempt
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        if int(request.META.get("CONTENT_LENGTH") or 0) > request_limit():
            return HttpResponse(f"The upload is larger than the {human_size(settings.BENCHSITE_UPLOAD_MAX_BYTES)} "
                                "this site accepts.", status=413, content_type="text/plain")
        request.upload_handlers = [CappedUploadHandler(request)]
        try:
            return protected(request, *args, **kwargs)
        finally:
            for upload in request.FILES.values():
                upload.discard()

    return wrapper


@capped_uploads
def submission_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "community/submission_new.html", {"form": SubmissionForm()})
    form = SubmissionForm(request.POST, request.FILES)
    refusal = getattr(request, "upload_refusal", None)
    status = 413 if refusal else 400
    if refusal is None and form.is_valid():
        try:
            submission, created = services.submission_create(user=request.user, request=form.to_request())
        except services.Refused as exc:
            _form_refused(form, exc)
            status = exc.status
        else:
            if not created:
                messages.info(request, _("The same model is already submitted as #%(pk)s; here it is.")
                              % {"pk": submission.pk})
            return redirect("community:submission_detail", submission_id=submission.pk)
    return render(request, "community/submission_new.html", {"form": form, "refusal": refusal}, status=status)


@capped_uploads
def benchmark_new(request: HttpRequest) -> HttpResponse:
    """Upload a custom benchmark: "Check" shows the validator's report and the first prompts (HTMX, nothing
    stored); "Submit" imports it, private to its author until a moderator approves it."""
    if request.method != "POST":
        return render(request, "community/benchmark_new.html", {"form": BenchmarkForm()})
    form = BenchmarkForm(request.POST, request.FILES)
    checking = request.POST.get("action") == "check"
    context: dict = {"form": form, "refusal": getattr(request, "upload_refusal", None)}
    status = 413 if context["refusal"] else 400
    if context["refusal"] is None and form.is_valid():
        try:
            if checking:
                context["preview"] = services.benchmark_check(upload=form.to_upload())
                status = 200
            else:
                submission, created = services.benchmark_submit(user=request.user, upload=form.to_upload())
                if not created:
                    messages.info(request, _("This benchmark was already submitted; here it is."))
                return redirect("community:benchmark_reviews", slug=submission.benchmark.slug)
        except services.BenchmarkProblems as exc:
            context["problems"] = exc.problems
        except services.Refused as exc:
            _form_refused(form, exc)
            status = exc.status
    if checking and request.htmx:  # a report either way; htmx swaps only 2xx responses in
        return render(request, "community/_benchmark_report.html", context)
    return render(request, "community/benchmark_new.html", context, status=status)


def _form_refused(form, exc: services.Refused) -> None:
    """A service's refusal shown on the form, beside the field at fault when the form has it."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _moderator(request: HttpRequest) -> None:
    if not request.user.is_authenticated:
        raise PermissionDenied("log in as a moderator")
    if not services.is_moderator(request.user):
        raise PermissionDenied("moderators only")


@login_required
def moderation(request: HttpRequest) -> HttpResponse:
    _moderator(request)
    context = {"queue": selectors.moderation_queue(), "flags": selectors.open_flags(),
               "reviews": selectors.pending_reviews(), "benchmarks": selectors.pending_benchmarks(),
               "log": selectors.moderation_log()}
    return render(request, "community/moderation.html", context)


def _decided(request: HttpRequest, *, label: str, decide, done: str) -> HttpResponse:
    """Carry out a moderator's decision; what happened, or why it was refused, is the next page's message."""
    try:
        decide()
    except (services.Refused, services.TransitionRefused) as exc:
        messages.error(request, f"{label}: {exc}")
    else:
        messages.success(request, f"{label}: {done}.")
    return redirect("community:moderation")


@login_required
@require_POST
def submission_moderate(request: HttpRequest, submission_id: int) -> HttpResponse:
    _moderator(request)
    submission = get_object_or_404(Submission, pk=submission_id)
    approve = request.POST.get("decision") == "approve"
    decide = services.submission_approve if approve else services.submission_reject
    response = _decided(request, label=f"#{submission.pk} {submission.name}",
                        decide=lambda: decide(submission=submission, moderator=request.user,
                                              reason=request.POST.get("reason", "")),
                        done=_("approved and queued") if approve else _("rejected"))
    if request.POST.get("back") == "detail":
        return redirect("community:submission_detail", submission_id=submission.pk)
    return response


@login_required
@require_POST
def flag_moderate(request: HttpRequest, flag_id: int) -> HttpResponse:
    _moderator(request)
    flag = get_object_or_404(ModelFlag.objects.select_related("model"), pk=flag_id)
    confirm = request.POST.get("decision") == "confirm"
    return _decided(request, label=_("Flag on %(model)s") % {"model": flag.model.name},
                    decide=lambda: services.model_flag_resolve(flag=flag, moderator=request.user, confirm=confirm,
                                                               reason=request.POST.get("reason", "")),
                    done=_("confirmed") if confirm else _("dismissed"))


@login_required
@require_POST
def review_moderate(request: HttpRequest, review_id: int) -> HttpResponse:
    _moderator(request)
    review = get_object_or_404(BenchmarkReview.objects.select_related("benchmark", "author"), pk=review_id)
    approve = request.POST.get("decision") == "approve"
    return _decided(request, label=_("Review of %(benchmark)s") % {"benchmark": review.benchmark.slug},
                    decide=lambda: services.benchmark_review_moderate(review=review, moderator=request.user,
                                                                      approve=approve,
                                                                      reason=request.POST.get("reason", "")),
                    done=_("published") if approve else _("removed"))


@login_required
def model_flag_new(request: HttpRequest, slug: str) -> HttpResponse:
    model = get_object_or_404(ModelEntry, slug=slug)
    form = FlagForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.model_flag_create(model=model, author=request.user, **form.cleaned_data)
        except services.Refused as exc:
            _form_refused(form, exc)
            status = exc.status
        else:
            messages.success(request, _("Thank you: a moderator will look at your flag; once confirmed it shows on "
                                        "the model's page."))
            return redirect("leaderboard:model_detail", slug=model.slug)
    elif request.method == "POST":
        status = 400
    return render(request, "community/model_flag_new.html", {"model": model, "form": form}, status=status)


def benchmark_list(request: HttpRequest) -> HttpResponse:
    return render(request, "community/benchmark_list.html",
                  {"benchmarks": selectors.benchmark_overview(user=request.user)})


def benchmark_reviews(request: HttpRequest, slug: str) -> HttpResponse:
    page = selectors.benchmark_reviews(slug=slug, user=request.user)
    if page is None:
        raise Http404("No such benchmark")
    form = ReviewForm(request.POST or None, initial={"rating": page.own.rating, "text": page.own.text}
                      if page.own else None)
    status = 200
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{settings.LOGIN_URL}?next={request.path}")
        if form.is_valid():
            try:
                services.benchmark_review_submit(benchmark=page.versions[0], author=request.user,
                                                 **form.cleaned_data)
            except services.Refused as exc:
                _form_refused(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Your review is saved; it is published once a moderator has read it."))
                return redirect("community:benchmark_reviews", slug=slug)
        else:
            status = 400
    return render(request, "community/benchmark_reviews.html", {"page": page, "form": form}, status=status)


@login_required
@require_POST
def benchmark_moderate(request: HttpRequest, submission_id: int) -> HttpResponse:
    _moderator(request)
    submission = get_object_or_404(BenchmarkSubmission.objects.select_related("benchmark"), pk=submission_id)
    approve = request.POST.get("decision") == "approve"
    return _decided(request, label=submission.benchmark.slug,
                    decide=lambda: services.benchmark_submission_moderate(
                        submission=submission, moderator=request.user, approve=approve,
                        reason=request.POST.get("reason", "")),
                    done="approved" if approve else "rejected")
