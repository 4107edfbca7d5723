"""The environment record stored with every run: software versions, hardware, code revision."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

# bfcl-eval: the BFCL data, possible answers and checker parts a run used (runner/benchmarks/bfcl.py).
LIBRARIES = ("torch", "transformers", "llama_cpp_python", "numpy", "accelerate", "gguf", "tokenizers", "bfcl-eval")
REPO_ROOT = Path(__file__).resolve().parent.parent


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def code_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True,
            text=True, timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def hardware() -> dict:
    import psutil

    record = {
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "gpus": [],
    }
    try:
        import pynvml

        pynvml.nvmlInit()
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            record["gpus"].append(
                {"name": name.decode() if isinstance(name, bytes) else name,
                 "memory_bytes": pynvml.nvmlDeviceGetMemoryInfo(handle).total}
            )
    except Exception:  # no NVIDIA driver or no pynvml: a CPU machine
        pass
    return record


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def environment_record() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "hardware": hardware(),
        "code_revision": code_revision(),
    }
