"""Community writes over the API: model submissions (anyone reads the log and each history), benchmark reviews
and model flags (signed in)."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from community import selectors, services
from community.api.serializers import (
    BenchmarkCreateSerializer, BenchmarkPreviewSerializer, BenchmarkSubmissionSerializer, FlagSerializer,
    ReviewSerializer, SubmissionCreateSerializer, SubmissionDetailSerializer, SubmissionSerializer,
)
from community.models import SubmissionState
from community.uploads import CappedUploadHandler, human_size, request_limit
from evaluations.models import ModelEntry
from leaderboard.api.read_views import Pages
from leaderboard.api.schema import error_response
from leaderboard.api.throttling import ScopedThrottle


class ReadOrSignedIn(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_authenticated)


TOO_LARGE = error_response("The upload is larger than this site accepts")


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("state", enum=SubmissionState.values, description="Only submissions in this state")]))
class SubmissionViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Model submissions, newest first, each with its state and (in detail) every state change."""

    permission_classes = [ReadOrSignedIn]
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    pagination_class = Pages
    throttle_scope = "submissions"

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body: uploads stream to disk under the cap, hashed as they come.
        request.upload_handlers = [CappedUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    def get_throttles(self):
        # The submissions scope limits writes only; reads share the anonymous and per-user rates.
        throttles = super().get_throttles()
        if self.request.method in SAFE_METHODS:
            return [throttle for throttle in throttles if not isinstance(throttle, ScopedThrottle)]
        return throttles

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.submission_list().prefetch_related("events__actor")
        return selectors.submission_list(state=self.request.query_params.get("state"))

    def get_serializer_class(self):
        if self.action == "create":
            return SubmissionCreateSerializer
        return SubmissionDetailSerializer if self.action == "retrieve" else SubmissionSerializer

    @extend_schema(request={"application/json": SubmissionCreateSerializer,
                            "multipart/form-data": SubmissionCreateSerializer},
                   responses={201: SubmissionDetailSerializer, 200: SubmissionDetailSerializer,
                              409: error_response("The name or the weights are already on the site"), 413: TOO_LARGE})
    def create(self, request: Request, *args, **kwargs) -> Response:
        if int(request.META.get("CONTENT_LENGTH") or 0) > request_limit():
            return Response({"detail": f"the upload is larger than the "
                                       f"{human_size(settings.BENCHSITE_UPLOAD_MAX_BYTES)} this site accepts"},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            return self._create(request)
        finally:
            for upload in request.FILES.values():
                upload.discard()  # whatever was not moved into a submission's folder

    def _create(self, request: Request) -> Response:
        payload = request.data  # parsed here, through the capped handler, which records a refusal
        refusal = getattr(request._request, "upload_refusal", None)
        if refusal:
            return Response({"detail": refusal, "file": [refusal]}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        incoming = SubmissionCreateSerializer(data=payload)
        incoming.is_valid(raise_exception=True)
        try:
            submission, created = services.submission_create(user=request.user, request=incoming.to_request())
        except services.Refused as exc:
            body = {"detail": exc.message, **({exc.field: [exc.message]} if exc.field else {})}
            if exc.existing is not None:
                body["existing"] = exc.existing.pk
            return Response(body, status=exc.status)
        submission = selectors.submission_detail(submission_id=submission.pk)
        return Response(SubmissionDetailSerializer(submission).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                        headers={"Location": f"/api/v1/submissions/{submission.pk}/"})


class _CommunityWrite(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "submissions"

    @staticmethod
    def refused(exc: services.Refused) -> Response:
        return Response({"detail": exc.message, **({exc.field: [exc.message]} if exc.field else {})},
                        status=exc.status)


class BenchmarkReviewCreate(_CommunityWrite):
    """Review a benchmark (its newest version): rating 1-5 and text; published once a moderator reads it."""

    @extend_schema(request=ReviewSerializer, responses={201: ReviewSerializer})
    def post(self, request: Request, slug: str) -> Response:
        benchmark = selectors.visible_benchmarks(request.user).filter(slug=slug).order_by("-created_at", "-pk").first()
        if benchmark is None:
            raise NotFound("no such benchmark")
        incoming = ReviewSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            review = services.benchmark_review_submit(benchmark=benchmark, author=request.user,
                                                      rating=incoming.validated_data["rating"],
                                                      text=incoming.validated_data["text"])
        except services.Refused as exc:
            return self.refused(exc)
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class ModelFlagCreate(_CommunityWrite):
    """Flag a model (contamination, broken, licence, mislabelled merge, other) with an evidence link."""

    @extend_schema(request=FlagSerializer, responses={
        201: FlagSerializer, 409: error_response("You already have an open flag of this kind on this model")})
    def post(self, request: Request, slug: str) -> Response:
        model = ModelEntry.objects.filter(slug=slug).first()
        if model is None:
            raise NotFound("no such model")
        incoming = FlagSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            flag = services.model_flag_create(model=model, author=request.user, **incoming.validated_data)
        except services.Refused as exc:
            return self.refused(exc)
        return Response(FlagSerializer(flag).data, status=status.HTTP_201_CREATED)


class BenchmarkCreate(_CommunityWrite):
    """Submit a custom benchmark (multipart `spec` + `data`), or only check it with `check_only=true`. Problems
    come back as a list of {file, line, message}; nothing is stored then."""

    parser_classes = [MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers = [CappedUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": BenchmarkCreateSerializer}, responses={
        201: BenchmarkSubmissionSerializer,
        # check_only gives the preview; a benchmark already submitted by you gives its submission back.
        200: PolymorphicProxySerializer(component_name="BenchmarkPreviewOrSubmission",
                                        serializers=[BenchmarkPreviewSerializer, BenchmarkSubmissionSerializer],
                                        resource_type_field_name=None),
        409: error_response("This version of the benchmark is already on the site"), 413: TOO_LARGE})
    def post(self, request: Request) -> Response:
        try:
            payload = request.data  # parsed here, through the capped handler
            refusal = getattr(request._request, "upload_refusal", None)
            if refusal:
                return Response({"detail": refusal}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
            incoming = BenchmarkCreateSerializer(data=payload)
            incoming.is_valid(raise_exception=True)
            upload = incoming.to_upload()
            try:
                if incoming.validated_data["check_only"]:
                    preview = services.benchmark_check(upload=upload)
                    return Response({"slug": preview.slug, "version": preview.version, "items": preview.items,
                                     "prompts": [{"prompt": p, "target": t} for p, t in preview.prompts]})
                submission, created = services.benchmark_submit(user=request.user, upload=upload)
            except services.BenchmarkProblems as exc:
                return Response({"detail": exc.message, "problems": exc.problems}, status=status.HTTP_400_BAD_REQUEST)
            except services.Refused as exc:
                return self.refused(exc)
            return Response(BenchmarkSubmissionSerializer(submission).data,
                            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
        finally:
            for upload_file in request.FILES.values():
                upload_file.discard()
