"""A background thread that samples a process tree's memory and CPU, NVIDIA GPUs and energy counters.

Use it as a context manager around the work to measure, then read `report()`:

    with ResourceSampler() as sampler:
        backend.generate(requests)
    sampler.report().peak_rss_bytes

GPUs are read through NVML (pynvml) at the sampling rate; a machine without the driver simply has
no GPU figures (None). Energy comes from the GPUs' total-energy counters, else from the CPU package
RAPL counters where readable, else it is estimated from rated CPU power × utilisation; the report
says which.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import psutil

from runner.perf import (
    ESTIMATED,
    MEASURED_NVML,
    MEASURED_RAPL,
    counter_delta,
    default_rated_cpu_watts,
    estimated_cpu_watts,
    interval_energy_joules,
    trapezoid_energy_joules,
)

DEFAULT_INTERVAL_S = 0.1
# Finding a tree's processes scans all of /proc; it is refreshed at this period, its members read every sample.
TREE_REFRESH_S = 1.0
POWERCAP_ROOT = Path("/sys/class/powercap")
# Package-level zones only (intel-rapl:0, intel-rapl:1); their sub-zones (intel-rapl:0:0) are inside them.
RAPL_PACKAGE = re.compile(r"^intel-rapl:\d+$")


@dataclass(frozen=True)
class GpuReport:
    devices: list[str]
    utilisation_percent_mean: float | None
    utilisation_percent_peak: float | None
    memory_used_bytes_peak: int | None
    temperature_c_peak: float | None
    power_w_mean: float | None
    power_w_peak: float | None
    energy_j: float | None


@dataclass(frozen=True)
class ResourceReport:
    duration_s: float
    samples: int
    peak_rss_bytes: int | None
    cpu_percent_mean: float | None  # of the whole machine (all logical CPUs = 100)
    cpu_percent_peak: float | None
    gpu: GpuReport | None  # None: no NVIDIA GPU readable
    energy_j: float | None
    energy_source: str | None
    cpu_energy_j: float | None  # host CPU energy, also when the headline figure is the GPU's
    cpu_energy_source: str | None
    rated_cpu_watts: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _RaplZone:
    path: Path
    max_range_uj: float
    last_uj: float
    total_uj: float = 0.0


@dataclass
class _Series:
    timestamps: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)
    cpu_busy_seconds: list[float] = field(default_factory=list)  # CPU time the tree used in each interval
    gpu_utilisation: list[float] = field(default_factory=list)
    gpu_memory_used: list[int] = field(default_factory=list)
    gpu_temperature: list[float] = field(default_factory=list)
    gpu_power_w: list[float] = field(default_factory=list)


class ResourceSampler:
    """Samples at `interval_s` in a daemon thread between __enter__ and __exit__ (or start() and stop()).

    `nvml` defaults to the pynvml module; tests pass an object with the same functions to act as a GPU.
    `pid` is the root of the process tree to watch (default: this process).
    """

    def __init__(
        self,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        pid: int | None = None,
        rated_cpu_watts: float | None = None,
        nvml: ModuleType | Any | None = None,
        powercap_root: Path = POWERCAP_ROOT,
    ) -> None:
        self.interval_s = interval_s
        self.process = psutil.Process(pid or os.getpid())
        self.cpu_count = psutil.cpu_count() or 1
        self.rated_cpu_watts = rated_cpu_watts or default_rated_cpu_watts(self.cpu_count)
        self._nvml_module = nvml
        self._nvml = None  # the opened NVML module while sampling a machine with GPUs
        self._powercap_root = powercap_root
        self._series = _Series()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpu_handles: list = []
        self._gpu_names: list[str] = []
        self._gpu_energy_start_mj: list[float] | None = None
        self._gpu_energy_mj: float | None = None
        self._rapl: list[_RaplZone] = []
        self._tree: list[psutil.Process] = []
        self._tree_read_at = float("-inf")
        # CPU seconds of each process at its last reading, by (pid, create time): a process that exits takes
        # only its own time with it, and one started after the previous reading counts from zero.
        self._cpu_seconds: dict[tuple[int, float], float] = {}
        self._started = 0.0
        self._finished = 0.0

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> ResourceSampler:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self) -> None:
        self._nvml = self._open_nvml()
        self._rapl = self._open_rapl()
        self._refresh_tree(force=True)
        self._started = time.perf_counter()
        self._sample(self._started)  # the first reading only records where each process stands
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._finished = time.perf_counter()
        self._sample(self._finished)
        if self._nvml is not None:
            self._gpu_energy_mj = self._read_gpu_energy_delta()
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._refresh_tree()
            self._sample(time.perf_counter())

    # -- one sample ------------------------------------------------------------------------------
    def _sample(self, now: float) -> None:
        series = self._series
        if series.timestamps and now <= series.timestamps[-1]:
            return
        busy = self._read_cpu_seconds()
        if series.timestamps:
            series.cpu_busy_seconds.append(busy)
        series.timestamps.append(now)
        series.rss_bytes.append(self._tree_rss_bytes())
        for zone in self._rapl:
            current = _read_number(zone.path / "energy_uj")
            if current is not None:
                zone.total_uj += counter_delta(zone.last_uj, current, zone.max_range_uj)
                zone.last_uj = current
        if self._nvml is not None:
            self._sample_gpus()

    def _sample_gpus(self) -> None:
        nvml, series = self._nvml, self._series
        utilisation, memory, temperature, power = [], [], [], []
        for handle in self._gpu_handles:
            utilisation.append(_try(lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)))
            memory.append(_try(lambda: int(nvml.nvmlDeviceGetMemoryInfo(handle).used)))
            temperature.append(_try(lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))))
            power.append(_try(lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0))  # milliwatts
        # Devices summed (memory, power) or averaged (utilisation); a reading any device lacks is skipped.
        if None not in utilisation:
            series.gpu_utilisation.append(sum(utilisation) / len(utilisation))
        if None not in memory:
            series.gpu_memory_used.append(sum(memory))
        if None not in temperature:
            series.gpu_temperature.append(max(temperature))
        if None not in power:
            series.gpu_power_w.append(sum(power))
        else:
            series.gpu_power_w.append(float("nan"))

    def _refresh_tree(self, *, force: bool = False) -> None:
        """The watched process and its descendants, found again once a TREE_REFRESH_S has passed.

        Scanning /proc takes long under load (the GIL is handed back after every file), so it happens
        before a sample's timestamp is taken and not at every sample; a failed scan keeps the last tree.
        """
        if not force and time.perf_counter() - self._tree_read_at < TREE_REFRESH_S:
            return
        try:
            self._tree = [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            self._tree = self._tree or [self.process]
        self._tree_read_at = time.perf_counter()

    def _read_cpu_seconds(self) -> float:
        """CPU seconds the tree used since the last reading."""
        busy = 0.0
        for process in self._tree:
            try:
                key = (process.pid, process.create_time())
                times = process.cpu_times()
            except psutil.Error:
                continue  # exited: its time since the last reading is lost, the others' is not
            seconds = times.user + times.system
            busy += max(seconds - self._cpu_seconds.get(key, 0.0), 0.0)
            self._cpu_seconds[key] = seconds
        return busy

    def _tree_rss_bytes(self) -> int:
        total = 0
        for process in self._tree:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total

    # -- sources ---------------------------------------------------------------------------------
    def _open_nvml(self):
        nvml = self._nvml_module
        try:
            if nvml is None:
                import pynvml as nvml
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
            self._gpu_handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:  # no driver, no library, no device: a CPU-only machine
            return None
        if not self._gpu_handles:
            return None
        self._gpu_names = [_text(_try(lambda h=h: nvml.nvmlDeviceGetName(h)) or "GPU") for h in self._gpu_handles]
        self._gpu_energy_start_mj = [_try(lambda h=h: float(nvml.nvmlDeviceGetTotalEnergyConsumption(h)))
                                     for h in self._gpu_handles]
        return nvml

    def _read_gpu_energy_delta(self) -> float | None:
        """Millijoules the GPUs used since start(), from their counters; None if any has none (pre-Volta)."""
        starts = self._gpu_energy_start_mj
        if not starts or None in starts:
            return None
        ends = [_try(lambda h=h: float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h))) for h in self._gpu_handles]
        if None in ends:
            return None
        return sum(end - start for start, end in zip(starts, ends))  # type: ignore[operator]

    def _open_rapl(self) -> list[_RaplZone]:
        zones = []
        try:
            candidates = sorted(p for p in self._powercap_root.iterdir() if RAPL_PACKAGE.match(p.name))
        except OSError:
            return []
        for folder in candidates:
            current = _read_number(folder / "energy_uj")  # root-only on most kernels since 2020
            max_range = _read_number(folder / "max_energy_range_uj")
            if current is None or max_range is None:
                return []  # a partial sum would understate the energy
            zones.append(_RaplZone(folder, max_range, current))
        return zones

    # -- report ----------------------------------------------------------------------------------
    def report(self) -> ResourceReport:
        series = self._series
        timestamps = series.timestamps
        # Machine-wide utilisation of each interval. Energy uses it uncapped: readings lag their timestamps a
        # little under load, so one interval may show over 100 % and the next correspondingly less.
        utilisation = [100.0 * busy / ((end - start) * self.cpu_count)
                       for busy, start, end in zip(series.cpu_busy_seconds, timestamps, timestamps[1:])]
        cpu_watts = [estimated_cpu_watts(u, rated_watts=self.rated_cpu_watts) for u in utilisation]
        if self._rapl:
            cpu_energy, cpu_source = sum(z.total_uj for z in self._rapl) / 1e6, MEASURED_RAPL
        else:
            cpu_energy, cpu_source = interval_energy_joules(timestamps, cpu_watts), ESTIMATED
        gpu = self._gpu_report()
        if gpu is not None and gpu.energy_j is not None:
            energy, source = gpu.energy_j, MEASURED_NVML
        else:
            energy, source = cpu_energy, cpu_source if cpu_energy is not None else None
        busy = [min(100.0, u) for u in utilisation]
        return ResourceReport(
            duration_s=(self._finished or time.perf_counter()) - self._started,
            samples=len(timestamps),
            peak_rss_bytes=max(series.rss_bytes) if series.rss_bytes else None,
            cpu_percent_mean=_mean(busy),
            cpu_percent_peak=max(busy) if busy else None,
            gpu=gpu,
            energy_j=energy,
            energy_source=source,
            cpu_energy_j=cpu_energy,
            cpu_energy_source=cpu_source if cpu_energy is not None else None,
            rated_cpu_watts=self.rated_cpu_watts,
        )

    def _gpu_report(self) -> GpuReport | None:
        if self._nvml is None:
            return None
        series = self._series
        energy_j = self._gpu_energy_mj / 1000.0 if self._gpu_energy_mj is not None else None
        powered = [(t, w) for t, w in zip(series.timestamps, series.gpu_power_w) if w == w]  # drop NaN
        if energy_j is None and len(powered) == len(series.timestamps):
            # No energy counter: integrate the power readings, which NVML measured too.
            energy_j = trapezoid_energy_joules([t for t, _ in powered], [w for _, w in powered])
        watts = [w for _, w in powered]
        return GpuReport(
            devices=self._gpu_names,
            utilisation_percent_mean=_mean(series.gpu_utilisation),
            utilisation_percent_peak=max(series.gpu_utilisation, default=None),
            memory_used_bytes_peak=max(series.gpu_memory_used, default=None),
            temperature_c_peak=max(series.gpu_temperature, default=None),
            power_w_mean=_mean(watts),
            power_w_peak=max(watts, default=None),
            energy_j=energy_j,
        )


def _read_number(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _try(read):
    """An NVML reading, or None where the device does not support it."""
    try:
        return read()
    except Exception:
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def combine_reports(reports: Sequence[ResourceReport]) -> ResourceReport | None:
    """One report for work measured in parts (a run's shards, possibly on different workers).

    Durations and energies add up, peaks are the highest peak, means are weighted by duration. An energy
    figure missing from any part makes the total unavailable; parts measured in different ways give a
    total labelled estimated, the weakest of its sources.
    """
    if not reports:
        return None
    durations = [report.duration_s for report in reports]
    energy, source = _combined_energy([(r.energy_j, r.energy_source) for r in reports])
    cpu_energy, cpu_source = _combined_energy([(r.cpu_energy_j, r.cpu_energy_source) for r in reports])
    gpus = [report.gpu for report in reports if report.gpu is not None]
    return ResourceReport(
        duration_s=sum(durations),
        samples=sum(report.samples for report in reports),
        peak_rss_bytes=_peak([report.peak_rss_bytes for report in reports]),
        cpu_percent_mean=_weighted_mean([r.cpu_percent_mean for r in reports], durations),
        cpu_percent_peak=_peak([report.cpu_percent_peak for report in reports]),
        gpu=_combined_gpu(gpus, [r.duration_s for r in reports if r.gpu is not None]) if gpus else None,
        energy_j=energy,
        energy_source=source,
        cpu_energy_j=cpu_energy,
        cpu_energy_source=cpu_source,
        rated_cpu_watts=max(report.rated_cpu_watts for report in reports),
    )


def report_from_dict(data: dict) -> ResourceReport:
    gpu = data.get("gpu")
    return ResourceReport(**{**data, "gpu": GpuReport(**gpu) if gpu else None})


def _combined_gpu(gpus: list[GpuReport], durations: list[float]) -> GpuReport:
    energies = [gpu.energy_j for gpu in gpus]
    return GpuReport(
        devices=sorted({name for gpu in gpus for name in gpu.devices}),
        utilisation_percent_mean=_weighted_mean([g.utilisation_percent_mean for g in gpus], durations),
        utilisation_percent_peak=_peak([gpu.utilisation_percent_peak for gpu in gpus]),
        memory_used_bytes_peak=_peak([gpu.memory_used_bytes_peak for gpu in gpus]),
        temperature_c_peak=_peak([gpu.temperature_c_peak for gpu in gpus]),
        power_w_mean=_weighted_mean([gpu.power_w_mean for gpu in gpus], durations),
        power_w_peak=_peak([gpu.power_w_peak for gpu in gpus]),
        energy_j=None if None in energies else sum(energies),  # type: ignore[arg-type]
    )


def _combined_energy(parts: list[tuple[float | None, str | None]]) -> tuple[float | None, str | None]:
    if any(joules is None for joules, _ in parts):
        return None, None
    sources = {source for _, source in parts}
    return sum(joules for joules, _ in parts), sources.pop() if len(sources) == 1 else ESTIMATED  # type: ignore[misc]


def _peak(values: list):
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _weighted_mean(values: list[float | None], weights: list[float]) -> float | None:
    pairs = [(value, weight) for value, weight in zip(values, weights) if value is not None]
    total = sum(weight for _, weight in pairs)
    if not pairs:
        return None
    if total <= 0:
        return sum(value for value, _ in pairs) / len(pairs)
    return sum(value * weight for value, weight in pairs) / total
