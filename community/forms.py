"""Forms parse what people type; community.services decides what is accepted."""
from __future__ import annotations

from django import forms

from community.models import ModelFlag, Submission
from community.services import LICENSES, BenchmarkUpload, SubmissionRequest


class SubmissionForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="The name it will have on the leaderboard")
    source = forms.ChoiceField(choices=Submission.Source.choices, widget=forms.RadioSelect,
                               initial=Submission.Source.UPLOAD)
    file = forms.FileField(required=False, allow_empty_file=True, label="Weights file",
                           help_text="A .gguf, or a .safetensors with its config.json and tokenizer.json below. "
                                     "Pickles (.bin, .pt, .pth, .ckpt) are refused.")
    config = forms.FileField(required=False, label="config.json (safetensors only)")
    tokenizer = forms.FileField(required=False, label="tokenizer.json (safetensors only)")
    hub_id = forms.CharField(required=False, max_length=200, label="Hub id", help_text="organisation/model")
    revision = forms.CharField(required=False, max_length=100, help_text="A commit hash pins the exact weights "
                                                                          "(default: main)")
    endpoint_url = forms.CharField(required=False, max_length=1000, label="Endpoint URL",
                                   help_text="An OpenAI-compatible server, e.g. https://host/v1")
    license = forms.ChoiceField(label="Licence", choices=[("", "Choose a licence")] + list(LICENSES.items()))
    license_accepted = forms.BooleanField(required=False, label="I accepted this gated licence's terms")
    precision = forms.ChoiceField(choices=Submission.Precision.choices, initial=Submission.Precision.AS_STORED)
    base_model = forms.CharField(required=False, max_length=200, label="Base model",
                                 help_text="Required for merges and adapter-tuned models")
    is_merge = forms.BooleanField(required=False, label="This model is a merge of other models")
    is_adapter = forms.BooleanField(required=False, label="Fine-tuned with an adapter (e.g. LoRA) merged into "
                                                          "these weights")
    owner_consent = forms.BooleanField(required=False, label="I own these weights or have their owner's consent to "
                                                             "submit them for public evaluation")

    def to_request(self) -> SubmissionRequest:
        data = self.cleaned_data
        return SubmissionRequest(
            name=data["name"], source=data["source"], license=data["license"],
            owner_consent=data["owner_consent"], license_accepted=data["license_accepted"],
            precision=data["precision"], hub_id=data["hub_id"].strip(), revision=data["revision"].strip(),
            endpoint_url=data["endpoint_url"].strip(), base_model=data["base_model"].strip(),
            is_merge=data["is_merge"], is_adapter=data["is_adapter"],
            weights=data["file"],
            config=data["config"], tokenizer=data["tokenizer"],
        )


class FlagForm(forms.Form):
    kind = forms.ChoiceField(choices=ModelFlag.Kind.choices)
    evidence_url = forms.URLField(required=False, max_length=1000, label="Evidence link", assume_scheme="https",
                                  help_text="A discussion, a paper, a contaminated dataset…")
    text = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 4}), label="What is wrong")


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(choices=[(n, str(n)) for n in range(1, 6)], coerce=int,
                                    widget=forms.RadioSelect, help_text="1 poor … 5 excellent")
    text = forms.CharField(required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 4}),
                           label="Review", help_text="Source, licence, item quality, contamination risk…")


class BenchmarkForm(forms.Form):
    spec = forms.FileField(label="Spec (.yaml, .yml or .json)", allow_empty_file=True,
                           help_text="The format of docs/custom-benchmarks.md; its `data` names the JSONL file")
    data = forms.FileField(label="Items (JSONL)", allow_empty_file=True)
    fewshot = forms.FileField(required=False, allow_empty_file=True, label="Few-shot examples (JSONL, optional)",
                              help_text="When the spec's fewshot names a file of its own")
    source_url = forms.CharField(required=False, max_length=1000, label="Source",
                                 help_text="Where the items come from: the paper or the dataset card (http(s) link)")
    license = forms.CharField(required=False, max_length=100, label="Data licence", help_text="e.g. cc-by-4.0")
    reference_checked = forms.BooleanField(required=False, label="I compared its scores with a reference "
                                                                 "implementation (the paper's or the harness's)")
    notes = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}),
                            help_text="Anything moderators and reviewers should know")

    def to_upload(self) -> BenchmarkUpload:
        data = self.cleaned_data
        return BenchmarkUpload(spec=data["spec"], data=data["data"], fewshot=data["fewshot"],
                               source_url=data["source_url"].strip(), license=data["license"].strip(),
                               reference_checked=data["reference_checked"], notes=data["notes"])
