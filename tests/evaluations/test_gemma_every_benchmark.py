"""The second bundled model, Gemma 3 270M, through `manage.py evaluate` on one item of every benchmark family
(SmolLM2 runs two items of each in the family tests). Slow: a real model on two CPU cores."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from evaluations.models import Run, RunStatus, Sample
from runner.datasets import load_split
from runner.catalog import GENERATE_UNTIL, TASKS

# One task per BBH: the group is 27 tasks of 3-shot chain of thought.
SLUGS = [
    "humaneval", "mbpp",  # coding
    "triviaqa", "nq_open", "openbookqa",  # knowledge
    "bbh_boolean_expressions", "piqa", "siqa", "boolq", "commonsense_qa",  # reasoning
    "truthfulqa_gen", "truthfulqa_mc1", "toxicity", "refusal",  # safety and truthfulness
    "ifeval", "mt_bench",  # instruction following
    "creativity", "tool_use",
]


@pytest.mark.slow
@pytest.mark.django_db
def test_gemma_runs_every_benchmark_family(tmp_path, settings, shared_data_dir):
    settings.BENCHSITE_CODE_EXECUTION = True
    output = tmp_path / "result.json"
    call_command("evaluate", "--model", "gemma-3-270m", "--backend", "llama_cpp", "--benchmark", ",".join(SLUGS),
                 "--limit", "1", "--max-new-tokens", "32", "--judge", "SmolLM2-135M-Instruct",
                 "--output", str(output), "--no-progress")
    result = json.loads(output.read_text())
    run = Run.objects.get(pk=result["run_id"])
    assert run.status == RunStatus.FINISHED and run.done == run.total == len(SLUGS)
    for slug in SLUGS:
        assert len(result["samples"][slug]) == 1, slug
        if slug == "mt_bench" and slug not in result["scores"]:
            continue  # a judge that writes no [[rating]] leaves the item unscored, never 0
        primary = result["scores"][slug][TASKS[slug].primary_metric]
        assert primary["n"] == 1 and primary["value"] is not None, slug
    generated = {s.benchmark.slug: s for s in Sample.objects.filter(run=run, loglikelihoods__isnull=True)}
    assert set(generated) == {slug for slug in SLUGS if TASKS[slug].output_type == GENERATE_UNTIL}
    assert all(isinstance(sample.output, str) for sample in generated.values())
    # A base model: no chat template, so chat tasks send the prompt as it is and conversations as a transcript.
    ifeval = generated["ifeval"]
    assert ifeval.prompt == load_split(TASKS["ifeval"].test).rows[0]["prompt"]
    assert len(generated["mt_bench"].details["judgments"]) == 2  # both turns answered and sent to the judge
    record = run.performance
    assert record["samples"] == len(SLUGS) and record["streamed"]["requests"] >= 1
    assert record["resources"]["peak_rss_bytes"] > 100 * 2**20  # the model's weights are resident
