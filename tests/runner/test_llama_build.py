"""The installed llama.cpp is the portable build `make install` makes (docs/llama-cpp-build.md), and it decodes."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REBUILD = (
    "rebuild the portable wheel: rm -rf ~/.cache/benchsite/wheels/llama_cpp_python-*; make install "
    "(docs/llama-cpp-build.md)"
)
# What the Makefile's LLAMA_CMAKE_ARGS compile in: every x86-64 CPU of this workplace runs these. A native
# build on Sapphire Rapids adds AVX-512 and AMX kernels: it SIGSEGVs in decode there, and the EPYC machines
# have no AVX-512 at all.
PORTABLE_FEATURES = {"SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2"}
REQUIRED_FEATURES = {"AVX2", "FMA", "F16C"}  # asked for too: without them llama.cpp falls back to slower kernels
# Entries of the CPU line that name build options, not instruction sets.
BUILD_OPTIONS = {"LLAMAFILE", "OPENMP", "REPACK", "KLEIDIAI"}
# ggml_cpu_has_* answer what the library was compiled with (#if defined(__AVX512F__) ...), not what the
# CPU running it has, so they tell the build apart on any machine.
FORBIDDEN_KERNELS = ("avx512", "avx512_vbmi", "avx512_vnni", "avx512_bf16", "amx_int8", "avx_vnni")


def cpu_features(system_info: str) -> set[str]:
    """The instruction sets of the CPU backend in llama_print_system_info: `CPU : SSE3 = 1 | AVX2 = 1 | ...`."""
    features, backend = set(), None
    for entry in system_info.split("|"):
        if " : " in entry:  # `NAME : ` starts the entries of one backend
            backend, entry = entry.split(" : ", 1)
            backend = backend.strip()
        name, _, value = entry.partition("=")
        if backend == "CPU" and value.strip() not in ("", "0"):
            features.add(name.strip())
    return features - BUILD_OPTIONS


def test_the_feature_line_is_read_per_backend():
    info = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 0 | OPENMP = 1 | REPACK = 1 | CUDA : ARCHS = 890 | "
    assert cpu_features(info) == {"SSE3", "AVX2"}
    assert cpu_features("no backends") == set()


def test_llama_cpp_is_the_portable_build_without_avx512_or_amx_kernels():
    import llama_cpp

    system_info = llama_cpp.llama_print_system_info().decode(errors="replace")
    features = cpu_features(system_info)
    assert features, f"llama.cpp reports no CPU backend ({system_info!r}): {REBUILD}"
    beyond = sorted(features - PORTABLE_FEATURES)
    assert not beyond, f"llama.cpp was compiled with {', '.join(beyond)} ({system_info.strip()}): {REBUILD}"
    missing = sorted(REQUIRED_FEATURES - features)
    assert not missing, f"llama.cpp was compiled without {', '.join(missing)} ({system_info.strip()}): {REBUILD}"

    # Where llama_cpp loaded libllama from; libllama finds libggml-cpu beside itself.
    library = Path(os.environ.get("LLAMA_CPP_LIB_PATH") or Path(llama_cpp.__file__).parent / "lib") / "libggml-cpu.so"
    assert library.is_file(), f"no CPU backend beside {llama_cpp.__file__} (a GGML_BACKEND_DL build?): {REBUILD}"
    cpu = ctypes.CDLL(str(library))
    compiled = [name for name in FORBIDDEN_KERNELS if getattr(cpu, f"ggml_cpu_has_{name}")()]
    assert not compiled, f"{library} has {', '.join(compiled)} kernels compiled in: {REBUILD}"


DECODE = """
import json, sys
from runner.backends import GenerationRequest, load_backend
backend = load_backend("llama_cpp", sys.argv[1])
generation = backend.generate([GenerationRequest("Question: What is 2 + 3?\\nAnswer:", max_new_tokens=8)])[0]
print(json.dumps({"text": generation.text, "output_tokens": generation.output_tokens}))
"""


@pytest.mark.slow
def test_the_bundled_model_decodes_through_the_llama_cpp_backend(smollm2_path):
    # In a child process: a build with kernels this CPU lacks dies by a signal (SIGSEGV, SIGILL), and the
    # test should say so, not take the whole session down with it.
    done = subprocess.run([sys.executable, "-c", DECODE, str(smollm2_path)], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    if done.returncode < 0:
        pytest.fail(f"llama.cpp died by {signal.Signals(-done.returncode).name} decoding {smollm2_path.name}: {REBUILD}")
    assert done.returncode == 0, f"decoding {smollm2_path.name} failed: {done.stderr.strip()[-2000:]}\n{REBUILD}"
    generation = json.loads(done.stdout.strip().splitlines()[-1])
    assert generation["output_tokens"] > 0 and generation["text"].strip(), f"nothing decoded: {generation}"
