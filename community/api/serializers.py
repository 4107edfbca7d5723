"""Shapes of the submission API: what a submitter sends (JSON or multipart) and what anyone reads back."""
from __future__ import annotations

from rest_framework import serializers

from community.models import BenchmarkReview, BenchmarkSubmission, ModelFlag, Submission, SubmissionEvent
from community.services import LICENSES, BenchmarkUpload, SubmissionRequest


class SubmissionCreateSerializer(serializers.Serializer):
    """One model to evaluate: a hub id, an endpoint URL, or a `file` upload (multipart)."""

    name = serializers.CharField(max_length=200, help_text="Its name on the leaderboard")
    source = serializers.ChoiceField(choices=Submission.Source.choices, required=False,
                                     help_text="Default: upload when a file is sent, hub for hub_id, endpoint for "
                                               "endpoint_url")
    hub_id = serializers.CharField(max_length=200, required=False, default="")
    revision = serializers.CharField(max_length=100, required=False, default="",
                                     help_text="Commit, branch or tag (default main)")
    endpoint_url = serializers.CharField(max_length=1000, required=False, default="")
    file = serializers.FileField(required=False, allow_empty_file=True, help_text=".gguf or .safetensors (multipart)")
    config = serializers.FileField(required=False, help_text="config.json, with safetensors")
    tokenizer = serializers.FileField(required=False, help_text="tokenizer.json, with safetensors")
    license = serializers.ChoiceField(choices=list(LICENSES), help_text="SPDX-style id, e.g. apache-2.0")
    license_accepted = serializers.BooleanField(required=False, default=False,
                                                help_text="Required true for gated licences")
    precision = serializers.ChoiceField(choices=Submission.Precision.choices, required=False,
                                        default=Submission.Precision.AS_STORED)
    base_model = serializers.CharField(max_length=200, required=False, default="")
    is_merge = serializers.BooleanField(required=False, default=False)
    is_adapter = serializers.BooleanField(required=False, default=False)
    owner_consent = serializers.BooleanField(help_text="Must be true: you own the weights or have the owner's "
                                                       "consent")

    def validate(self, data: dict) -> dict:
        if "source" not in data:
            data["source"] = (Submission.Source.UPLOAD if data.get("file") else
                              Submission.Source.HUB if data.get("hub_id") else
                              Submission.Source.ENDPOINT if data.get("endpoint_url") else None)
            if data["source"] is None:
                raise serializers.ValidationError({"source": ["send a file, a hub_id or an endpoint_url"]})
        return data

    def to_request(self) -> SubmissionRequest:
        data = self.validated_data
        return SubmissionRequest(
            name=data["name"], source=data["source"], license=data["license"], owner_consent=data["owner_consent"],
            license_accepted=data["license_accepted"], precision=data["precision"], hub_id=data["hub_id"].strip(),
            revision=data["revision"].strip(), endpoint_url=data["endpoint_url"].strip(),
            base_model=data["base_model"].strip(), is_merge=data["is_merge"], is_adapter=data["is_adapter"],
            weights=data.get("file"), config=data.get("config"), tokenizer=data.get("tokenizer"),
        )


class SubmissionEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.get_username", default=None, allow_null=True,
                                  help_text="null: the site itself")

    class Meta:
        model = SubmissionEvent
        fields = ["from_state", "to_state", "actor", "reason", "created_at"]


class SubmissionSerializer(serializers.ModelSerializer):
    submitter = serializers.CharField(source="submitter.get_username", default=None, allow_null=True)
    # Set once the submission is approved and queued; null before.
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    run = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Submission
        fields = ["id", "name", "state", "reason", "submitter", "source", "hub_id", "revision", "endpoint_url",
                  "file_name", "file_format", "file_size", "file_sha256", "file_summary", "license",
                  "license_accepted", "precision", "base_model", "is_merge", "is_adapter", "owner_consent", "suite",
                  "model", "run", "created_at", "updated_at"]


class SubmissionDetailSerializer(SubmissionSerializer):
    events = SubmissionEventSerializer(many=True, read_only=True)

    class Meta(SubmissionSerializer.Meta):
        fields = [*SubmissionSerializer.Meta.fields, "events"]


class ReviewSerializer(serializers.ModelSerializer):
    benchmark = serializers.CharField(source="benchmark.slug", read_only=True)
    version = serializers.CharField(source="benchmark.version", read_only=True)
    author = serializers.CharField(source="author.get_username", read_only=True)
    rating = serializers.IntegerField(min_value=1, max_value=5)
    text = serializers.CharField(required=False, default="", allow_blank=True, max_length=10000)

    class Meta:
        model = BenchmarkReview
        fields = ["id", "benchmark", "version", "author", "rating", "text", "is_approved", "created_at"]
        read_only_fields = ["is_approved", "created_at"]


class FlagSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.slug", read_only=True)
    kind = serializers.ChoiceField(choices=ModelFlag.Kind.choices)
    evidence_url = serializers.URLField(required=False, default="", allow_blank=True, max_length=1000)

    class Meta:
        model = ModelFlag
        fields = ["id", "model", "kind", "text", "evidence_url", "state", "created_at"]
        read_only_fields = ["state", "created_at"]


class BenchmarkCreateSerializer(serializers.Serializer):
    """A custom benchmark (multipart): the spec file, its JSONL items, and the checklist."""

    spec = serializers.FileField(allow_empty_file=True, help_text="YAML or JSON spec (docs/custom-benchmarks.md)")
    data = serializers.FileField(allow_empty_file=True, help_text="The items, JSONL")
    fewshot = serializers.FileField(required=False, allow_empty_file=True, help_text="Few-shot examples, JSONL")
    source_url = serializers.CharField(max_length=1000, help_text="Where the items come from (http(s) link)")
    license = serializers.CharField(max_length=100, help_text="The data's licence")
    reference_checked = serializers.BooleanField(required=False, default=False)
    notes = serializers.CharField(required=False, default="", allow_blank=True, max_length=4000)
    check_only = serializers.BooleanField(required=False, default=False,
                                          help_text="Validate and preview only; nothing is stored")

    def to_upload(self) -> BenchmarkUpload:
        data = self.validated_data
        return BenchmarkUpload(spec=data["spec"], data=data["data"], fewshot=data.get("fewshot"),
                               source_url=data["source_url"], license=data["license"],
                               reference_checked=data["reference_checked"], notes=data["notes"])


class BenchmarkPromptSerializer(serializers.Serializer):
    prompt = serializers.CharField()
    target = serializers.CharField()


class BenchmarkPreviewSerializer(serializers.Serializer):
    """What `check_only=true` answers: the benchmark as it would be imported and its first rendered prompts."""

    slug = serializers.CharField()
    version = serializers.CharField()
    items = serializers.IntegerField()
    prompts = BenchmarkPromptSerializer(many=True)


class BenchmarkSubmissionSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="benchmark.slug")
    version = serializers.CharField(source="benchmark.version")
    spec_hash = serializers.CharField(source="benchmark.spec_hash")
    submitter = serializers.CharField(source="submitter.get_username", default=None, allow_null=True)

    class Meta:
        model = BenchmarkSubmission
        fields = ["id", "slug", "version", "spec_hash", "state", "reason", "submitter", "source_url", "license",
                  "reference_checked", "notes", "created_at"]
