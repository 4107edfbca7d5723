"""Forms parse what people type; community.services decides what is accepted."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from community.models import ModelFlag, Submission
from community.services import LICENSES, BenchmarkUpload, SubmissionRequest


class SubmissionForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Name"), help_text=_("The name it will have on the leaderboard"))
    source = forms.ChoiceField(label=_("Source"), choices=Submission.Source.choices, widget=forms.RadioSelect,
                               initial=Submission.Source.UPLOAD)
    file = forms.FileField(required=False, allow_empty_file=True, label=_("Weights file"),
                           help_text=_("A .gguf, or a .safetensors with its config.json and tokenizer.json below. "
                                     "Pickles (.bin, .pt, .pth, .ckpt) are refused."))
    config = forms.FileField(required=False, label=_("config.json (safetensors only)"))
    tokenizer = forms.FileField(required=False, label=_("tokenizer.json (safetensors only)"))
    hub_id = forms.CharField(required=False, max_length=200, label=_("Hub id"), help_text=_("organisation/model"))
    revision = forms.CharField(required=False, max_length=100, label=_("Revision"),
                               help_text=_("A commit hash pins the exact weights (default: main)"))
    endpoint_url = forms.CharField(required=False, max_length=1000, label=_("Endpoint URL"),
                                   help_text=_("An OpenAI-compatible server, e.g. https://host/v1"))
    license = forms.ChoiceField(label=_("Licence"), choices=[("", _("Choose a licence"))] + list(LICENSES.items()))
    license_accepted = forms.BooleanField(required=False, label=_("I accepted this gated licence's terms"))
    precision = forms.ChoiceField(label=_("Precision"), choices=Submission.Precision.choices,
                                  initial=Submission.Precision.AS_STORED)
    base_model = forms.CharField(required=False, max_length=200, label=_("Base model"),
                                 help_text=_("Required for merges and adapter-tuned models"))
    is_merge = forms.BooleanField(required=False, label=_("This model is a merge of other models"))
    is_adapter = forms.BooleanField(required=False, label=_("Fine-tuned with an adapter (e.g. LoRA) merged into "
                                                          "these weights"))
    owner_consent = forms.BooleanField(required=False, label=_("I own these weights or have their owner's consent to "
                                                             "submit them for public evaluation"))

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
    kind = forms.ChoiceField(label=_("Kind"), choices=ModelFlag.Kind.choices)
    evidence_url = forms.URLField(required=False, max_length=1000, label=_("Evidence link"), assume_scheme="https",
                                  help_text=_("A discussion, a paper, a contaminated dataset…"))
    text = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 4}), label=_("What is wrong"))


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(label=_("Rating"), choices=[(n, str(n)) for n in range(1, 6)], coerce=int,
                                    widget=forms.RadioSelect, help_text=_("1 poor … 5 excellent"))
    text = forms.CharField(required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 4}),
                           label=_("Review"), help_text=_("Source, licence, item quality, contamination risk…"))


class BenchmarkForm(forms.Form):
    spec = forms.FileField(label=_("Spec (.yaml, .yml or .json)"), allow_empty_file=True,
                           help_text=_("The format of docs/custom-benchmarks.md; its `data` names the JSONL file"))
    data = forms.FileField(label=_("Items (JSONL)"), allow_empty_file=True)
    fewshot = forms.FileField(required=False, allow_empty_file=True, label=_("Few-shot examples (JSONL, optional)"),
                              help_text=_("When the spec's fewshot names a file of its own"))
    source_url = forms.CharField(required=False, max_length=1000, label=_("Source"),
                                 help_text=_("Where the items come from: the paper or the dataset card (http(s) link)"))
    license = forms.CharField(required=False, max_length=100, label=_("Data licence"), help_text=_("e.g. cc-by-4.0"))
    reference_checked = forms.BooleanField(required=False, label=_("I compared its scores with a reference "
                                                                 "implementation (the paper's or the harness's)"))
    notes = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}), label=_("Notes"),
                            help_text=_("Anything moderators and reviewers should know"))

    def to_upload(self) -> BenchmarkUpload:
        data = self.cleaned_data
        return BenchmarkUpload(spec=data["spec"], data=data["data"], fewshot=data["fewshot"],
                               source_url=data["source_url"].strip(), license=data["license"].strip(),
                               reference_checked=data["reference_checked"], notes=data["notes"])
