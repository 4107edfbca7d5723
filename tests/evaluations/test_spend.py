"""Priced runs against a fake OpenAI-compatible server that bills in `usage`: spend, budget stops, resume, cache."""
from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from evaluations.models import Run, RunStatus, Sample, Score, Shard, ShardStatus
from evaluations.progress import progress_snapshot
from evaluations.selectors import run_spend_summary
from evaluations.services import model_entries, plans, runs, shards
from runner.backends import GenerationRequest, load_backend
from runner.errors import BenchsiteError
from runner.pricing import Pricing, TokenUsage, estimate_request, format_usd
from tests.fake_openai_server import REPLY, count_tokens, fake_openai_server

pytestmark = pytest.mark.django_db

PRICE_IN, PRICE_OUT = "0.15", "0.6"  # USD per 1M tokens; not exact in binary floating point
MAX_NEW_TOKENS = 8


@pytest.fixture
def server():
    with fake_openai_server() as fake:
        yield fake


def plan_for(server, *, budget: str | None = None, limit: int = 6, pricing: bool = True, **options):
    model = model_entries.model_resolve(reference=server.url)
    priced = Pricing.parse(price_in=PRICE_IN, price_out=PRICE_OUT, budget=budget) if pricing else None
    return plans.run_plan(model=model, backend="openai", benchmarks=["gsm8k"], limit=limit, num_fewshot=0,
                          max_new_tokens=MAX_NEW_TOKENS, pricing=priced, **options)


def billed_usd(server) -> Decimal:
    """Σ tokens × price over every request the server billed, computed here from its own record."""
    return sum((Decimal(b.prompt_tokens) * Decimal(PRICE_IN) + Decimal(b.completion_tokens) * Decimal(PRICE_OUT)
                for b in server.billed), Decimal(0)) / 1_000_000


def plain(amount: Decimal) -> str:
    """A decimal as the API writes it: no exponent, no trailing zeros."""
    return f"{amount:f}".rstrip("0").rstrip(".")


def spent_usd(run: Run) -> Decimal:
    return Decimal(run_spend_summary(run=run)["usd"])


def test_a_run_within_its_budget_records_exactly_tokens_times_price(server):
    plan = plan_for(server, budget="100")
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)

    assert run.status == RunStatus.FINISHED and run.done == run.total == 6
    assert len(server.billed) == 6  # one completion per item: no streamed timing probe on a priced run
    assert (run.spend_input_tokens, run.spend_output_tokens) == server.totals()
    assert run.spend_estimated_tokens == 0
    assert spent_usd(run) == billed_usd(server) > 0
    assert run.config["pricing"] == {"usd_per_1m_input": 0.15, "usd_per_1m_output": 0.6, "budget_usd": 100}
    assert Score.objects.filter(run=run, is_primary=True).exists()


def test_prices_are_recorded_but_leave_the_configuration_hash_alone(server):
    priced, unpriced = plan_for(server, budget="5"), plan_for(server, pricing=False)
    assert "pricing" in priced.config and "pricing" not in unpriced.config
    assert priced.config_hash == unpriced.config_hash
    assert priced.config["tasks"]["gsm8k"]["config_key"] == unpriced.config["tasks"]["gsm8k"]["config_key"]


def test_a_small_budget_stops_the_run_cleanly_and_keeps_the_samples_stored_before(server):
    plan = plan_for(server, limit=20)
    one_item = Pricing.parse(price_in=PRICE_IN, price_out=PRICE_OUT).cost(
        estimate_request(plan.tasks[0].items[0].generation))
    budget = one_item * 3
    plan = plan_for(server, limit=20, budget=str(budget))
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)

    assert run.status == RunStatus.BUDGET_REACHED
    stored = Sample.objects.filter(run=run).count()
    assert 0 < stored == run.done < run.total == 20
    assert stored == len(server.billed)  # every request that was sent is stored
    spent = spent_usd(run)
    assert spent == billed_usd(server) <= budget
    assert run.error == f"budget of {format_usd(budget)} reached after {format_usd(spent)} ({stored} of 20 items)"
    assert re.fullmatch(r"budget of \$[\d.]+ reached after \$[\d.]+ \(\d+ of 20 items\)", run.error)
    assert Shard.objects.get(run=run).status == ShardStatus.BUDGET_REACHED
    assert not Score.objects.filter(run=run).exists()  # partial: never ranked beside complete runs
    # The next item, estimated conservatively, would have taken it past the budget.
    next_item = Pricing.parse(price_in=PRICE_IN, price_out=PRICE_OUT).cost(
        estimate_request(plan.tasks[0].items[stored].generation))
    assert spent + next_item > budget


def test_a_resumed_run_keeps_what_it_had_spent(server):
    plan = plan_for(server, budget="100")
    run = runs.run_create(plan=plan)
    server.fail_after = 3
    with pytest.raises(BenchsiteError, match="HTTP 500"):
        shards.run_execute(run=run, plan=plan)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.done == 3
    assert (run.spend_input_tokens, run.spend_output_tokens) == server.totals()  # nothing lost in the failure
    # As a worker killed mid-shard leaves things: run and shard still marked running; then it resumes.
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    Shard.objects.filter(run=run).update(status=ShardStatus.RUNNING)
    server.fail_after = None
    run.refresh_from_db()
    resumed = shards.run_execute(run=run, plan=plan)

    assert resumed.status == RunStatus.FINISHED and resumed.done == 6
    assert len(server.billed) == 6
    assert spent_usd(resumed) == billed_usd(server)


def test_answers_from_the_response_cache_cost_nothing(server, monkeypatch):
    # Endpoint runs skip the response cache (a URL can change its model unseen); here it is let in on purpose.
    monkeypatch.setattr(shards, "response_identity", lambda run: {"endpoint": run.model.location})
    plan = plan_for(server, budget="100")
    first = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    billed = len(server.billed)
    assert spent_usd(first) == billed_usd(server) > 0

    tiny = plan_for(server, budget="0.000000001")  # not enough for a single request
    again = shards.run_execute(run=runs.run_create(plan=tiny), plan=tiny)
    assert again.status == RunStatus.FINISHED and again.done == 6
    assert len(server.billed) == billed  # nothing sent
    assert spent_usd(again) == 0 and (again.spend_input_tokens, again.spend_output_tokens) == (0, 0)
    assert Sample.objects.filter(run=again, details__cached=True).count() == 6


def test_without_usage_the_backends_own_counts_are_used_and_labelled_estimated():
    request = GenerationRequest("Question: What is 2 + 3?\nAnswer:", max_new_tokens=MAX_NEW_TOKENS)
    with fake_openai_server(report_usage=False, tokenize_endpoint=True) as fake:
        backend = load_backend("openai", fake.url)
        text = backend.generate([request])[0].text
        assert backend.usage.total() == TokenUsage(count_tokens(request.prompt), count_tokens(text),
                                                   count_tokens(request.prompt) + count_tokens(text))
    with fake_openai_server(report_usage=False) as fake:  # no tokenize endpoint: one token per byte, at most
        backend = load_backend("openai", fake.url)
        text = backend.generate([request])[0].text
        expected = len(request.prompt.encode()) + len(text.encode())
        assert backend.usage.total() == TokenUsage(len(request.prompt.encode()), len(text.encode()), expected)


def test_a_run_without_usage_is_priced_on_estimates(server):
    server.report_usage = False
    plan = plan_for(server, budget="100", limit=2)
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    assert run.status == RunStatus.FINISHED
    spend = run_spend_summary(run=run)
    assert spend["estimated_tokens"] == spend["input_tokens"] + spend["output_tokens"] > 0


@pytest.mark.parametrize(("price_in", "price_out", "budget", "message"), [
    ("-1", "0.6", None, "--price-in must not be negative"),
    ("0.15", "-0.6", None, "--price-out must not be negative"),
    ("abc", "0.6", None, "--price-in must be a number of USD per 1M input tokens, not 'abc'"),
    ("0.15", "0.6", "lots", "--budget-usd must be a number of USD, not 'lots'"),
    ("0.15", "0.6", "-5", "--budget-usd must not be negative"),
    ("0.15", "0.6", "0", "--budget-usd must be more than 0"),
    ("nan", "0.6", None, "--price-in must be a finite number"),
    ("0.15", "inf", None, "--price-out must be a finite number"),
    ("0.15", None, None, "give both --price-in and --price-out"),
    (None, None, "5", "a budget needs prices"),
])
def test_invalid_prices_and_budgets_are_refused(price_in, price_out, budget, message):
    with pytest.raises(BenchsiteError, match=re.escape(message)):
        Pricing.parse(price_in=price_in, price_out=price_out, budget=budget)


def test_prices_are_refused_for_local_backends():
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    with pytest.raises(BenchsiteError, match="prices and budgets are for endpoints billed per token"):
        plans.run_plan(model=model, backend="llama_cpp", benchmarks=["gsm8k"], limit=1,
                       pricing=Pricing.parse(price_in="1", price_out="2"))


def test_evaluate_refuses_a_bad_price_with_a_usage_error(server):
    message = "--price-out must be a number of USD per 1M output tokens, not 'twelve'"
    with pytest.raises(CommandError, match=re.escape(message)) as error:
        call_command("evaluate", "--model", server.url, "--backend", "openai", "--benchmark", "gsm8k",
                     "--price-in", "0.15", "--price-out", "twelve", "--no-progress")
    assert error.value.returncode == 2
    assert not Run.objects.exists()


def test_evaluate_prints_the_spend_and_stops_at_the_budget(server, tmp_path, capsys):
    args = ("--model", server.url, "--backend", "openai", "--benchmark", "gsm8k", "--limit", "3",
            "--num-fewshot", "0", "--max-new-tokens", str(MAX_NEW_TOKENS), "--price-in", PRICE_IN,
            "--price-out", PRICE_OUT, "--no-progress")
    call_command("evaluate", *args, "--budget-usd", "10", "--output", str(tmp_path / "full.json"))
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "full.json").read_text())
    assert result["spend"]["usd"] == plain(billed_usd(server))
    assert f"spend: {format_usd(billed_usd(server))} of a $10.00 budget" in out
    assert "input tokens at $0.15 and" in out and "output tokens at $0.60 per 1M" in out

    with pytest.raises(CommandError, match=r"stopped: budget of \$0\.000001 reached after \$0\.00 \(0 of 3 items\)") \
            as error:
        call_command("evaluate", *args, "--budget-usd", "0.000001", "--output", str(tmp_path / "stopped.json"))
    assert error.value.returncode == 3
    stopped = json.loads((tmp_path / "stopped.json").read_text())
    assert stopped["status"] == "budget_reached" and stopped["partial_scores"] == {}


def test_the_run_page_the_progress_and_the_api_show_the_spend(server, client):
    plan = plan_for(server, budget="2.5")
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    spend = run_spend_summary(run=run)
    html = client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()
    assert f'id="run-spend">{spend["display"]["usd"]} of a $2.50 budget' in html
    assert f"{run.spend_input_tokens:,} in, {run.spend_output_tokens:,} out" in html
    assert "$0.15 in, $0.60 out per 1M tokens" in html
    german = client.get(reverse("leaderboard:run_detail", args=[run.pk]), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Ausgaben" in german and "$0,15 Eingabe, $0,60 Ausgabe pro 1M Tokens" in german

    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)  # the live fragment of a running run
    live = client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()
    assert 'id="run-progress"' in live and 'id="run-spend"' in live
    assert progress_snapshot(run_id=run.pk).spend == spend

    detail = client.get(f"/api/v1/runs/{run.pk}/").json()
    assert detail["spend"]["usd"] == spend["usd"] == plain(billed_usd(server))
    assert detail["spend"]["budget_usd"] == "2.5" and detail["spend"]["usd_per_1m_input"] == "0.15"
    assert detail["spend"]["input_tokens"] == run.spend_input_tokens


def test_unpriced_runs_show_no_spend(server, client):
    plan = plan_for(server, pricing=False, limit=1)
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    assert run_spend_summary(run=run) is None
    assert 'id="run-spend"' not in client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()
    assert client.get(f"/api/v1/runs/{run.pk}/").json()["spend"] is None


def test_the_fake_server_answers_with_its_reply():
    with fake_openai_server() as fake:
        text = load_backend("openai", fake.url).generate([GenerationRequest("Hi", max_new_tokens=64)])[0].text
    assert text.split() == REPLY.split()
