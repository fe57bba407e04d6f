"""Smoke test of ``fastdense bench`` (fastdense/bench.py): the kernel part on
tiny shapes runs, returns 0, prints the table and writes JSON with the
expected keys and finite, positive numbers.  No timing is asserted: the
numbers depend on the machine and its load; only their shape is checked.
"""
import json
import math

import pytest

from fastdense import bench


def _finite_positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture
def smoke_json(tmp_path, capsys, restore_fastdense_config, ckernels):
    path = tmp_path / "out" / "bench.json"
    code = bench.main(["--quick", "--kernels-only", "--sizes", "small", "--threads", "1,2",
                       "--repeats", "2", "--min-time", "0.001", "--json", str(path),
                       "--no-chart", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert path.exists()
    with open(path) as f:
        return json.load(f), out


def test_json_has_machine_settings_and_kernels(smoke_json):
    res, _ = smoke_json
    assert res["schema"] == bench.SCHEMA
    for key in ("machine", "settings", "kernels", "blas_peak", "notes",
                "slower_than_numpy", "training", "predict"):
        assert key in res, key
    m = res["machine"]
    for key in ("cpu", "usable_cores", "simd", "openmp", "numpy", "blas"):
        assert key in m, key
    assert m["simd"] in ("avx512", "avx2", "generic")
    assert res["settings"]["threads"] == [1, 2]
    assert res["training"] == [] and res["predict"] == []   # --kernels-only


def test_every_small_case_measured_at_each_thread_count(smoke_json):
    res, _ = smoke_json
    expected = {c.name for c in bench.kernel_cases("small")}
    for n in (1, 2):
        names = {r["name"] for r in res["kernels"] if r["threads"] == n}
        assert names == expected
    kernels = {r["kernel"] for r in res["kernels"]}
    # every kernel family of fastdense.h is in the registry
    assert {"dot", "sgemm+bias+relu", "sgemm gather", "add_f32", "relu_f32",
            "relu_backward_f32", "bias_grad_f32", "softmax_f32", "softmax_xent_f32",
            "rmsprop_update_f32", "sgd_update_f32", "adam_update_f32"} <= kernels


def test_ratios_and_rates_are_finite_and_positive(smoke_json):
    res, _ = smoke_json
    for r in res["kernels"]:
        for key in ("fastdense_s", "numpy_s", "ratio"):
            assert _finite_positive(r[key]), (r["name"], key, r[key])
        assert r["ratio"] == pytest.approx(r["numpy_s"] / r["fastdense_s"])
        assert len(r["samples"]["fastdense"]) == len(r["samples"]["numpy"]) == 2
        if r["kernel"] in ("dot", "sgemm+bias+relu", "sgemm gather"):
            for key in ("fastdense_gflops", "numpy_gflops", "pct_of_blas",
                        "pct_of_blas_peak"):
                assert _finite_positive(r[key]), (r["name"], key, r[key])
    for p in res["blas_peak"]:
        assert _finite_positive(p["gflops"])


def test_table_printed(smoke_json):
    res, out = smoke_json
    assert "machine:" in out and "ratio" in out
    assert "JSON written to" in out
    for r in res["kernels"]:
        assert r["kernel"] in out


def test_bad_threads_option_is_a_usage_error(capsys):
    assert bench.main(["--threads", "0", "--kernels-only"]) == 2
    assert "--threads" in capsys.readouterr().err


def test_interleaved_rotates_and_counts():
    calls = []
    s = bench.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                          repeats=4, warmup=0, number=1)
    assert [len(v) for v in s.values()] == [4, 4]
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert all(_finite_positive(t) or t == 0 for v in s.values() for t in v)
