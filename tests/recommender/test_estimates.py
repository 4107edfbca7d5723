"""Estimates for models nothing was measured of: bytes per parameter, KV cache per token, bandwidth-bound speed."""
from __future__ import annotations

import pytest

from recommender import estimates


@pytest.mark.parametrize("quantization, dtype, size", [
    ("Q4_K_M", "", 0.5625), ("Q4_1", "", 0.625), ("Q8_0", "", 1.0625), ("F16", "", 2.0), ("", "bf16", 2.0),
    ("", "float32", 4.0), ("", "", 2.0),
])
def test_bytes_per_parameter(quantization, dtype, size):
    assert estimates.bytes_per_parameter(quantization, dtype) == size


def test_kv_cache_per_token_from_a_placement_estimate_and_memory_at_another_context():
    weights = 1e9
    total = int(weights + estimates.RUNTIME_OVERHEAD_BYTES + 4096 * 20_000)
    kv = estimates.kv_bytes_per_token(estimated_total_bytes=total, weights=weights, context=4096)
    assert kv == pytest.approx(20_000, rel=1e-6)
    assert estimates.memory_bytes(weights=weights, kv_per_token=kv, context=1024) == pytest.approx(
        weights + 1024 * 20_000 + estimates.RUNTIME_OVERHEAD_BYTES)
    assert estimates.kv_bytes_per_token(estimated_total_bytes=None, weights=weights, context=4096) is None


def test_speed_latency_and_energy_follow_bandwidth_and_power():
    speed = estimates.decode_tokens_per_s(weights=2e9, bandwidth_gb_s=100)  # 50% of 100 GB/s over 2 GB
    assert speed == pytest.approx(25.0)
    assert estimates.latency_ms(speed) == pytest.approx(256 / 25 * 1000)
    assert estimates.joules_per_token(power_w=200, tokens_per_s=speed) == pytest.approx(8.0)
    assert estimates.decode_tokens_per_s(weights=None, bandwidth_gb_s=100) is None
