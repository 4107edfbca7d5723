"""Performance maths on known inputs, the resource sampler (with and without a GPU), streaming, profiling."""
from __future__ import annotations

import mmap
import resource
import subprocess
import sys

import time
from types import SimpleNamespace

import numpy as np
import psutil
import pytest

from runner.backends import GenerationRequest, load_backend
from runner.backends.base import stream_until_stop
from tests.fake_backend import DeterministicFakeBackend
from runner.errors import BenchsiteError
from runner.perf import (
    ESTIMATED,
    MEASURED_NVML,
    MEASURED_RAPL,
    EnergyFigures,
    RequestTiming,
    carbon_grams,
    counter_delta,
    interval_energy_joules,
    joules_per_1k_tokens,
    latency_summary,
    rate_per_second,
    summarize_requests,
    trapezoid_energy_joules,
)
from runner.presets import PRESETS, preset_options
from runner.profiling import ProfileConfig, SweepGrid, profile_backend, profile_steps, synthetic_prompt
from runner.sampler import GpuReport, ResourceReport, ResourceSampler, combine_reports, report_from_dict

MIB = 2**20


# -- maths ---------------------------------------------------------------------------------------
def test_latency_percentiles_follow_numpys_linear_interpolation():
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    # rank = p/100 × (n − 1): p95 → 8.55, between 90 and 100; p99 → 8.91.
    assert latency_summary(values) == pytest.approx({"p50": 55.0, "p95": 95.5, "p99": 99.1, "mean": 55.0})
    shuffled = [70, 10, 100, 40, 20, 90, 60, 30, 80, 50]
    assert latency_summary(shuffled) == latency_summary(values)
    assert latency_summary([]) == {"p50": None, "p95": None, "p99": None, "mean": None}


def test_trapezoid_energy_of_power_samples():
    # 0→1 s: mean 150 W, 1→2 s: 200 W, 2→3 s: 150 W.
    assert trapezoid_energy_joules([0, 1, 2, 3], [100, 200, 200, 100]) == pytest.approx(500.0)
    # Uneven spacing: 0.5 s at a mean of 20 W, then 1.5 s at 30 W.
    assert trapezoid_energy_joules([0, 0.5, 2.0], [10, 30, 30]) == pytest.approx(55.0)
    assert trapezoid_energy_joules([5.0], [100]) is None


def test_interval_energy_uses_one_mean_power_per_interval():
    assert interval_energy_joules([0, 2, 3], [10, 40]) == pytest.approx(60.0)
    with pytest.raises(ValueError):
        interval_energy_joules([0, 1, 2], [10, 20, 30])


def test_rapl_counter_wraparound():
    assert counter_delta(100, 250, 1_000) == 150
    # 900 → wraps at 1000 → 50: 100 before the wrap and 50 after.
    assert counter_delta(900, 50, 1_000) == 150
    assert counter_delta(0, 0, 1_000) == 0


def test_rates_energy_per_token_and_carbon():
    assert rate_per_second(100, 4.0) == 25.0
    assert rate_per_second(100, 0.0) is None
    assert joules_per_1k_tokens(50.0, 200) == pytest.approx(250.0)
    assert joules_per_1k_tokens(50.0, 0) is None
    assert joules_per_1k_tokens(None, 200) is None
    assert carbon_grams(3.6e6, 480) == pytest.approx(480.0)  # exactly one kWh
    assert carbon_grams(1800.0, 480) == pytest.approx(0.24)  # half a watt-hour
    assert carbon_grams(None, 480) is None
    figures = EnergyFigures.of(7200.0, ESTIMATED, output_tokens=400, grid_g_per_kwh=500)
    assert (figures.kwh, figures.carbon_g, figures.joules_per_1k_output_tokens) == pytest.approx((0.002, 1.0, 18000.0))
    unavailable = EnergyFigures.of(None, ESTIMATED, output_tokens=400, grid_g_per_kwh=500)
    assert unavailable.source is None and unavailable.carbon_g is None and unavailable.kwh is None


def test_summarize_requests_from_timings():
    timings = [
        RequestTiming(started_s=0.0, first_token_s=0.2, finished_s=1.2, prompt_tokens=100, output_tokens=11),
        RequestTiming(started_s=1.2, first_token_s=1.5, finished_s=2.0, prompt_tokens=50, output_tokens=6),
    ]
    point = summarize_requests(timings, concurrency=1)
    assert point.duration_s == pytest.approx(2.0)
    assert point.requests_per_s == pytest.approx(1.0)
    assert point.output_tokens_per_s == pytest.approx(17 / 2.0)
    assert point.prompt_tokens_per_s == pytest.approx(150 / 0.5)  # prompt tokens over time to first token
    assert point.time_to_first_token_ms["p50"] == pytest.approx(250.0)
    assert point.end_to_end_ms["p50"] == pytest.approx(1000.0)
    # (1.2 − 0.2) s over 10 gaps and (2.0 − 1.5) s over 5 gaps: 100 ms each.
    assert point.inter_token_ms["mean"] == pytest.approx(100.0)
    no_token = RequestTiming(0.0, None, 1.0, 10, 0)
    assert no_token.time_to_first_token_ms is None and no_token.inter_token_ms is None
    with pytest.raises(ValueError):
        summarize_requests([], concurrency=1)


# -- sampler -------------------------------------------------------------------------------------
def _tree_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


CHILD_CPU_S = 1.5


def _burn_cpu(seconds: float) -> None:
    """Use `seconds` of this thread's CPU time, however busy the machine is (wall time would get less)."""
    deadline = time.thread_time() + seconds
    total = 0
    while time.thread_time() < deadline:
        total += sum(range(1000))


def test_sampler_without_gpu_samples_memory_and_cpu_and_estimates_energy(tmp_path):
    rss_before = psutil.Process().memory_info().rss
    with ResourceSampler(interval_s=0.02, rated_cpu_watts=100.0, powercap_root=tmp_path / "no-powercap") as sampler:
        # Counted from here: start() itself (importing pynvml, probing for a driver) is not sampled work.
        cpu_before = _tree_cpu_seconds()
        # A fresh anonymous mapping, every page written: new resident memory whatever the heap already holds.
        block = mmap.mmap(-1, 96 * MIB)
        np.frombuffer(block, dtype=np.uint8)[:] = 1
        _burn_cpu(0.4)
        time.sleep(0.05)
    cpu_used = _tree_cpu_seconds() - cpu_before
    report = sampler.report()
    block.close()
    assert report.gpu is None  # no NVIDIA driver here: pynvml cannot initialise
    assert report.samples >= 5
    assert report.peak_rss_bytes >= rss_before + 80 * MIB
    assert 0 < report.cpu_percent_mean <= 100
    assert report.energy_source == report.cpu_energy_source == ESTIMATED
    # Rated watts × CPU seconds / logical CPUs. The sampler watches the process tree, so inside a suite whose
    # fixtures keep child processes it may find more, but never above the rating over the sampled time.
    assert cpu_used > 0.3
    assert report.energy_j >= 0.9 * 100.0 * cpu_used / psutil.cpu_count()
    assert report.energy_j <= 100.0 * report.duration_s


def test_sampler_counts_a_child_started_while_sampling_from_zero(tmp_path):
    burn_child = f"import time\ndeadline = time.process_time() + {CHILD_CPU_S}\nwhile time.process_time() < deadline: pass"
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ResourceSampler(interval_s=0.02, rated_cpu_watts=100.0, powercap_root=tmp_path / "no-powercap") as sampler:
        subprocess.run([sys.executable, "-c", burn_child], check=True)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    report = sampler.report()
    assert child_cpu >= CHILD_CPU_S
    # The child is found by a tree scan (once a second) while it runs and counted from its start; only its time
    # after the last reading before it exited (one interval) is lost.
    assert report.energy_j >= 0.8 * 100.0 * child_cpu / psutil.cpu_count()
    assert report.energy_j <= 100.0 * report.duration_s


def _write(path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def test_sampler_reads_rapl_package_counters_across_a_wraparound(tmp_path):
    package0, package1 = tmp_path / "intel-rapl:0", tmp_path / "intel-rapl:1"
    _write(package0 / "max_energy_range_uj", 1_000_000)
    _write(package0 / "energy_uj", 900_000)
    _write(package1 / "max_energy_range_uj", 1_000_000)
    _write(package1 / "energy_uj", 10_000)
    _write(tmp_path / "intel-rapl:0:0" / "energy_uj", 5)  # a sub-zone inside package 0: not counted twice
    _write(tmp_path / "intel-rapl:0:0" / "max_energy_range_uj", 1_000_000)
    with ResourceSampler(interval_s=0.01, powercap_root=tmp_path) as sampler:
        time.sleep(0.05)
        _write(package0 / "energy_uj", 950_000)
        _write(tmp_path / "intel-rapl:0:0" / "energy_uj", 999_999)
        time.sleep(0.05)
        _write(package0 / "energy_uj", 100_000)  # wrapped: 50 000 before, 100 000 after
        _write(package1 / "energy_uj", 310_000)
        time.sleep(0.05)
    report = sampler.report()
    assert report.energy_source == report.cpu_energy_source == MEASURED_RAPL
    assert report.energy_j == pytest.approx((50_000 + 150_000 + 300_000) / 1e6)


class FakeNvml:
    """Two GPUs as pynvml shows them: readings in NVML's units (mW, mJ, bytes, °C, %)."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, *, energy_counter: bool = True) -> None:
        self.energy_counter = energy_counter
        self.energy_reads = {0: [1_000_000, 1_150_000], 1: [5_000, 55_000]}  # start, stop: 150 J and 50 J
        self.shut_down = False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shut_down = True

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return b"Fake GPU"

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=(80, 40)[handle], memory=10)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=(2, 1)[handle] * 2**30, total=80 * 2**30, free=0)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return (70, 65)[handle]

    def nvmlDeviceGetPowerUsage(self, handle):
        return (250_000, 100_000)[handle]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.energy_counter:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return self.energy_reads[handle].pop(0)


def test_sampler_reads_gpus_through_nvml(tmp_path):
    nvml = FakeNvml()
    with ResourceSampler(interval_s=0.01, nvml=nvml, powercap_root=tmp_path) as sampler:
        time.sleep(0.08)
    report = sampler.report()
    gpu = report.gpu
    assert gpu is not None and gpu.devices == ["Fake GPU", "Fake GPU"]
    assert gpu.utilisation_percent_mean == pytest.approx(60.0)
    assert gpu.memory_used_bytes_peak == 3 * 2**30
    assert gpu.temperature_c_peak == 70
    assert gpu.power_w_mean == pytest.approx(350.0) and gpu.power_w_peak == pytest.approx(350.0)
    assert (report.energy_j, report.energy_source) == (pytest.approx(200.0), MEASURED_NVML)
    assert report.cpu_energy_source == ESTIMATED  # the host's share is still there, labelled
    assert nvml.shut_down


def test_sampler_integrates_gpu_power_when_there_is_no_energy_counter(tmp_path):
    with ResourceSampler(interval_s=0.01, nvml=FakeNvml(energy_counter=False), powercap_root=tmp_path) as sampler:
        time.sleep(0.08)
    report = sampler.report()
    sampled_span = sampler._series.timestamps[-1] - sampler._series.timestamps[0]
    assert report.energy_source == MEASURED_NVML
    assert report.energy_j == pytest.approx(350.0 * sampled_span)


# -- streaming -----------------------------------------------------------------------------------
def test_stream_until_stop_cuts_like_truncate_at_stop():
    assert list(stream_until_stop(["ab", "c\n", "\nd"], ["\n\n"])) == ["ab", "c"]
    assert "".join(stream_until_stop(["Hello Q", "uestion: x"], ["Question:"])) == "Hello "
    assert "".join(stream_until_stop(["Hello Q", "uick"], ["Question:"])) == "Hello Quick"
    assert list(stream_until_stop(["a", "b", "c"], [])) == ["a", "b", "c"]


def test_fake_backend_streams_what_it_generates():
    backend = DeterministicFakeBackend()
    for request in (GenerationRequest("Q: 1+1?"), GenerationRequest("Q: 2+2?", stop=("\n\n", "####"))):
        pieces = list(backend.stream(request))
        assert len(pieces) > 1
        assert "".join(pieces) == backend.generate([request])[0].text


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    # One thread: llama.cpp's threads spin on each other when the machine is oversubscribed.
    return load_backend("llama_cpp", str(smollm2_path), n_ctx=256, n_threads=1)


@pytest.mark.slow
def test_llama_cpp_stream_yields_the_greedy_generation(smollm2):
    requests = [
        GenerationRequest("Question: What is the capital of France?\nAnswer:", stop=("\n",), max_new_tokens=12),
        GenerationRequest("Count on: 1, 2, 3,", max_new_tokens=10),
    ]
    for request in requests:
        expected = smollm2.generate([request])[0]
        pieces = list(smollm2.stream(request))
        assert "".join(pieces) == expected.text
        if not request.stop:
            assert len(pieces) == expected.output_tokens  # one piece per token


@pytest.mark.slow
def test_transformers_stream_yields_the_greedy_generation(tiny_llama_dir):
    backend = load_backend("hf", str(tiny_llama_dir), dtype="float32", device="cpu")
    for request in (GenerationRequest("The quick brown", max_new_tokens=12),
                    GenerationRequest("Question: What", stop=("o",), max_new_tokens=12)):
        assert "".join(backend.stream(request)) == backend.generate([request])[0].text


# -- profiling -----------------------------------------------------------------------------------
def test_synthetic_prompt_is_the_longest_counting_sequence_that_fits():
    backend = DeterministicFakeBackend()  # one token per character
    prompt = synthetic_prompt(backend, 40)
    assert prompt.startswith("Count on: 1, 2,") and len(prompt) <= 40
    next_number = int(prompt.rstrip(",").rsplit(" ", 1)[1]) + 1
    assert len(f"{prompt} {next_number},") > 40
    assert synthetic_prompt(backend, 40, variant=1) != prompt


def test_profile_steps_count_requests_and_fitting_sweep_points():
    config = ProfileConfig(requests=3, warmup_requests=1, sweep=SweepGrid((1, 4), (16, 512), 8))
    assert profile_steps(config, context_length=None) == 1 + 3 + (1 + 4) * 2
    assert profile_steps(config, context_length=64) == 1 + 3 + (1 + 4)  # 512 + 8 tokens do not fit


@pytest.mark.slow
def test_profile_of_smollm2_with_a_tiny_config(smollm2):
    config = ProfileConfig(requests=2, prompt_tokens=24, max_new_tokens=6, warmup_requests=1,
                           sweep=SweepGrid(batch_sizes=(1, 2), prompt_tokens=(16, 400), max_new_tokens=4),
                           grid_carbon_g_per_kwh=480.0)
    steps: list[str] = []
    profile = profile_backend(smollm2, config, on_progress=lambda label, count: steps.append(label))
    point = profile.concurrency[0]
    assert point.concurrency == 1 and point.requests == 2
    assert 0 < point.time_to_first_token_ms["p50"] <= point.end_to_end_ms["p50"]
    assert 0 < point.time_to_first_token_ms["p99"] <= point.end_to_end_ms["p99"]
    assert 0 < point.output_tokens <= 2 * 6 and point.output_tokens_per_s > 0
    assert 2 * 16 <= point.prompt_tokens <= 2 * 24
    resources = profile.resources
    assert resources.peak_rss_bytes > 50 * MIB  # the model's weights are mapped in
    assert resources.gpu is None
    assert profile.energy.source == ESTIMATED and profile.energy.joules > 0
    assert profile.energy.carbon_g == pytest.approx(profile.energy.joules / 3.6e6 * 480.0)
    # 400 prompt tokens + 4 new ones do not fit a 256-token context: skipped, not truncated.
    assert [(p.batch_size, p.prompt_tokens) for p in profile.sweep] == [(1, 16), (2, 16)]
    assert {(s["batch_size"], s["prompt_tokens"]) for s in profile.skipped} == {(1, 400), (2, 400)}
    assert all(p.output_tokens_per_s > 0 and p.peak_rss_bytes > 0 for p in profile.sweep)
    assert steps.count("latency") == 2 and len(steps) == 1 + 2 + 2
    record = profile.as_dict()
    assert record["concurrency"][0]["end_to_end_ms"]["p50"] == point.end_to_end_ms["p50"]


# -- presets -------------------------------------------------------------------------------------
def test_presets_map_onto_backend_options():
    assert set(PRESETS) == {"balanced", "performance", "memory_optimized"}
    assert preset_options("memory_optimized", "llama_cpp")["type_k"] == "q8_0"
    assert preset_options("memory_optimized", "hf") == {"dtype": "bfloat16", "batch_size": 1}
    assert preset_options("balanced", "fake") == {}
    with pytest.raises(BenchsiteError, match="unknown preset"):
        preset_options("turbo", "llama_cpp")


@pytest.mark.slow
def test_memory_optimized_preset_reaches_llama_cpp(smollm2_path):
    import llama_cpp

    backend = load_backend("llama_cpp", str(smollm2_path), n_threads=1, **preset_options("memory_optimized", "llama_cpp"))
    params = backend.llm.context_params
    assert (params.type_k, params.type_v) == (llama_cpp.GGML_TYPE_Q8_0, llama_cpp.GGML_TYPE_Q8_0)
    assert params.n_ctx == 1024
    text = backend.generate([GenerationRequest("Question: What is 2 + 3?\nAnswer:", max_new_tokens=4)])[0].text
    assert text.strip()
    with pytest.raises(BenchsiteError, match="KV cache type"):
        load_backend("llama_cpp", str(smollm2_path), type_k="f13")


def _report(duration_s, cpu_mean, energy_j, source, *, peak_rss=100, gpu=None) -> ResourceReport:
    return ResourceReport(
        duration_s=duration_s, samples=10, peak_rss_bytes=peak_rss, cpu_percent_mean=cpu_mean,
        cpu_percent_peak=cpu_mean + 10, gpu=gpu, energy_j=energy_j, energy_source=source,
        cpu_energy_j=energy_j, cpu_energy_source=source, rated_cpu_watts=50.0,
    )


def _gpu(utilisation, energy_j, memory) -> GpuReport:
    return GpuReport(devices=["NVIDIA H100"], utilisation_percent_mean=utilisation,
                     utilisation_percent_peak=utilisation + 5, memory_used_bytes_peak=memory,
                     temperature_c_peak=60.0, power_w_mean=300.0, power_w_peak=350.0, energy_j=energy_j)


def test_shard_reports_combine_into_one_for_the_run():
    combined = combine_reports([_report(10.0, 20.0, 100.0, ESTIMATED, peak_rss=300),
                                _report(30.0, 60.0, 200.0, ESTIMATED, peak_rss=200)])
    assert combined.duration_s == 40.0 and combined.samples == 20
    assert combined.cpu_percent_mean == pytest.approx((10 * 20 + 30 * 60) / 40)  # weighted by duration
    assert combined.cpu_percent_peak == 70.0 and combined.peak_rss_bytes == 300
    assert (combined.energy_j, combined.energy_source) == (300.0, ESTIMATED)
    assert combined.gpu is None
    # Different sources: the total is only as good as its weakest part.
    mixed = combine_reports([_report(1.0, 5.0, 10.0, MEASURED_RAPL), _report(1.0, 5.0, 20.0, ESTIMATED)])
    assert (mixed.energy_j, mixed.energy_source) == (30.0, ESTIMATED)
    same = combine_reports([_report(1.0, 5.0, 10.0, MEASURED_RAPL), _report(3.0, 5.0, 20.0, MEASURED_RAPL)])
    assert same.energy_source == MEASURED_RAPL
    # A part that could not be measured makes the total unavailable, never a partial sum.
    missing = combine_reports([_report(1.0, 5.0, 10.0, ESTIMATED), _report(1.0, 5.0, None, None)])
    assert missing.energy_j is None and missing.energy_source is None
    assert combine_reports([]) is None


def test_gpu_reports_combine_and_round_trip_through_json():
    first = _report(10.0, 20.0, 1000.0, MEASURED_NVML, gpu=_gpu(40.0, 1000.0, 5 * 2**30))
    second = _report(30.0, 20.0, 3000.0, MEASURED_NVML, gpu=_gpu(80.0, 3000.0, 7 * 2**30))
    gpu = combine_reports([first, second]).gpu
    assert gpu.utilisation_percent_mean == pytest.approx(70.0)
    assert gpu.memory_used_bytes_peak == 7 * 2**30 and gpu.energy_j == 4000.0
    assert gpu.devices == ["NVIDIA H100"]
    assert report_from_dict(first.as_dict()) == first
    no_counter = _report(1.0, 5.0, None, None, gpu=_gpu(40.0, None, 2**30))
    assert combine_reports([first, no_counter]).gpu.energy_j is None
