"""The load generator: percentiles on hand-made records, the curve on a real server, failures when it dies."""
from __future__ import annotations

import json
import threading
from dataclasses import astuple
from io import StringIO

import pytest
from django.core.management import call_command

from runner.backends import load_backend
from runner.loadgen import RequestRecord, run_load_test, summarise
from tests.runner.test_openai_backend import llama_server


def test_summary_counts_failures_and_takes_percentiles_over_successes_only():
    records = [RequestRecord(True, latency, latency / 10, 8) for latency in (100.0, 200.0, 300.0, 400.0)]
    records += [RequestRecord(False, 5.0, None, 0, "ModelLoadError: down"), RequestRecord(False, 7.0, None, 0,
                                                                                          "ModelLoadError: down")]
    level = summarise(records, concurrency=2, wall_s=2.0)
    assert (level.requests, level.succeeded, level.failed) == (6, 4, 2)
    # Linear interpolation between order statistics, numpy's default.
    assert astuple(level.latency_ms) == pytest.approx((250.0, 385.0, 397.0))
    assert astuple(level.first_token_ms) == pytest.approx((25.0, 38.5, 39.7))
    assert level.requests_per_s == 2.0 and level.output_tokens_per_s == 16.0
    assert level.errors == ["ModelLoadError: down"]
    nothing = summarise([RequestRecord(False, 1.0, None, 0, "x")], concurrency=1, wall_s=1.0)
    assert nothing.latency_ms is None and nothing.requests_per_s == 0.0


@pytest.mark.slow
@pytest.mark.django_db
def test_the_curve_on_a_real_server_has_every_request_at_every_level(smollm2_path):
    from evaluations.models import PerformanceProfile

    # Serving one request at a time, llama-cpp-python queues the others instead of cutting streams short.
    with llama_server(smollm2_path, "smollm2", "--interrupt_requests", "False") as server:
        out = StringIO()
        call_command("load_test", "--base-url", server.url, "--model", "smollm2", "--concurrency", "1,2",
                     "--requests", "4", "--max-tokens", "8", "--json", stdout=out)
    lines = out.getvalue().strip().splitlines()
    curve = json.loads(lines[-1])
    assert curve["model"] == "smollm2" and curve["max_tokens"] == 8
    assert [level["concurrency"] for level in curve["levels"]] == [1, 2]
    for level in curve["levels"]:
        assert (level["requests"], level["succeeded"], level["failed"]) == (4, 4, 0)
        latency, first_token = level["latency_ms"], level["first_token_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
        assert 0 < first_token["p50"] <= first_token["p95"] <= first_token["p99"]
        assert level["requests_per_s"] > 0
        assert 0 < level["output_tokens_per_s"] <= 8 * 4 / level["wall_s"] + 1e-9
    assert "concurrency" in lines[1] and len(lines) == 2 + 2 + 1
    stored = PerformanceProfile.objects.get(backend="openai")  # the curve is kept for the model's page
    assert [point["concurrency"] for point in stored.results["concurrency"]] == [1, 2]
    assert stored.model.name == f"{server.url}#smollm2"


@pytest.mark.slow
def test_streams_the_server_cuts_short_count_as_failures(smollm2_path):
    # By default llama-cpp-python ends a running stream, as if finished, as soon as another request waits.
    with llama_server(smollm2_path, "smollm2") as server:
        backend = load_backend("openai", server.url)
        curve = run_load_test(backend, concurrency_levels=[1, 2], requests_per_level=4, max_tokens=16)
    alone, together = curve.levels
    assert (alone.succeeded, alone.failed) == (4, 0)
    assert together.failed >= 1 and together.succeeded + together.failed == 4
    assert all("without a finish reason" in error for error in together.errors)


@pytest.mark.slow
def test_requests_after_the_server_dies_are_counted_as_failures(smollm2_path):
    with llama_server(smollm2_path, "smollm2", "--interrupt_requests", "False") as server:
        backend = load_backend("openai", server.url, retries=0)
        done, lock = [], threading.Lock()

        def kill_after_two(record: RequestRecord) -> None:
            with lock:
                done.append(record)
                if len(done) == 2:
                    server.process.kill()
                    server.process.wait()

        curve = run_load_test(backend, concurrency_levels=[2], requests_per_level=10, max_tokens=8, warmup=0,
                              on_record=kill_after_two)
    level = curve.levels[0]
    assert level.requests == 10 and level.succeeded + level.failed == 10
    assert level.succeeded >= 2 and level.failed >= 6  # at most the two in flight at the kill may finish
    assert all("cannot reach the OpenAI-compatible server" in error for error in level.errors)
    assert level.latency_ms is not None and level.requests_per_s == pytest.approx(level.succeeded / level.wall_s)


def test_the_command_reports_a_dead_server_as_a_usage_error():
    from django.core.management.base import CommandError

    from tests.runner.test_openai_backend import free_port

    with pytest.raises(CommandError, match="cannot reach the OpenAI-compatible server") as failure:
        call_command("load_test", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--requests", "2")
    assert failure.value.returncode == 2
