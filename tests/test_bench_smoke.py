"""Smoke test of ``fastdense bench`` (fastdense/bench.py): the kernel part on
tiny shapes runs, returns 0, prints the table and writes JSON with the
expected keys and finite, positive numbers.  No timing is asserted: the
numbers depend on the machine and its load; only their shape is checked.
"""
import contextlib
import io
import json
import math

import pytest

from fastdense import bench


def _finite_positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def smoke_json(tmp_path_factory, ckernels):
    """One run (about 10 s) shared by the tests below."""
    import fastdense
    path = tmp_path_factory.mktemp("bench") / "out" / "bench.json"
    out = io.StringIO()
    backend, threads = fastdense.backend(), fastdense.get_num_threads()
    try:
        with contextlib.redirect_stdout(out):
            code = bench.main(["--quick", "--kernels-only", "--sizes", "small", "--threads",
                               "1,2", "--repeats", "2", "--min-time", "0.001", "--json",
                               str(path), "--no-chart", "--quiet"])
    finally:
        fastdense.set_backend(backend)
        fastdense.set_num_threads(threads)
    assert code == 0
    assert path.exists()
    with open(path) as f:
        return json.load(f), out.getvalue()


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


def test_scaling_section_covers_the_step_products(smoke_json):
    res, out = smoke_json
    sc = res["scaling"]
    assert sc["threads"] == 2
    assert [r["role"] for r in sc["products"]] == [p[5] for p in bench.SMALL_STEP_PRODUCTS]
    for r in sc["products"]:
        for key in ("fastdense_1_s", "fastdense_n_s", "fastdense_scaling"):
            assert _finite_positive(r[key]), (r["shape"], key)
        assert r["fastdense_scaling"] == pytest.approx(r["fastdense_1_s"] / r["fastdense_n_s"])
        if sc["numpy_pinned"]:
            assert _finite_positive(r["numpy_scaling"])
    six = sc["step"]["all six products"]
    assert six["fastdense_1_s"] == pytest.approx(sum(r["fastdense_1_s"] for r in sc["products"]))
    five = sc["step"]["the seed step's five"]
    assert five["fastdense_n_s"] == pytest.approx(
        sum(r["fastdense_n_s"] for r in sc["products"][:5]))
    assert "Thread scaling of the training step's products" in out


def test_no_scaling_section_at_one_thread(tmp_path, capsys, restore_fastdense_config, ckernels):
    path = tmp_path / "bench.json"
    assert bench.main(["--quick", "--kernels-only", "--sizes", "small", "--threads", "1",
                       "--repeats", "1", "--min-time", "0.001", "--json", str(path),
                       "--no-chart", "--quiet"]) == 0
    with open(path) as f:
        assert json.load(f)["scaling"] is None
    assert "Thread scaling" not in capsys.readouterr().out


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
