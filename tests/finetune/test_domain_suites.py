"""Domain suites: MMLU subject groups whose configuration keys are the standard suite's, so MMLU runs count."""
from __future__ import annotations

import pytest

from evaluations.models import ModelEntry
from evaluations.services import plans
from runner.catalog import GROUPS
from runner.suites import DOMAIN_SUBJECTS, SUITES

pytestmark = pytest.mark.django_db


def test_domain_suites_are_mmlu_subjects_keyed_as_in_the_standard_suite():
    mmlu = set(GROUPS["mmlu"].members)
    for domain, subjects in DOMAIN_SUBJECTS.items():
        assert {f"mmlu_{s}" for s in subjects} <= mmlu, domain
    assert not set(DOMAIN_SUBJECTS["medical"]) & set(DOMAIN_SUBJECTS["legal"])
    # Not model_resolve: registering the bundled file hashes 98 MB; the plan only needs an entry.
    model = ModelEntry.objects.create(name="smol", location="bundled:SmolLM2-135M-Instruct", source_kind="bundled",
                                      format="gguf", file_sha256="a" * 64, parameter_count=135_000_000)
    legal = plans.run_plan_for_suite(suite="domain-legal", model=model, backend="fake")
    standard = plans.run_plan(model=model, backend="fake", benchmarks=["mmlu_jurisprudence", "mmlu_virology"])
    assert legal.requested == SUITES["domain-legal"].benchmarks
    assert legal.config["tasks"]["mmlu_jurisprudence"]["config_key"] == \
        standard.config["tasks"]["mmlu_jurisprudence"]["config_key"]
    assert legal.config["tasks"]["mmlu_jurisprudence"]["num_fewshot"] == 5
