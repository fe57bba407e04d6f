"""Smoke tests of ``fastdense bench`` (the package fastdense/bench/): the
kernel part on tiny shapes runs, returns 0, prints the table and writes JSON
with the expected keys and finite, positive numbers; the machine fields (CPU,
Zen generation, BLAS and its kernel family); the NumPy worker process that
measures NumPy without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (with a fake
OPENBLAS_CORETYPE set in the test's environment: the report says so and shows
both NumPy figures), and the run without those variables (no worker); the
MNIST training rows on a slice and the IMDB rows on the small data set; the
IMDB data generator and the NumPy IMDB contender.  No timing is asserted:
the numbers depend on the machine and its load; only their shape is checked.
"""
import contextlib
import io
import json
import math

import pytest

from fastdense import bench

from conftest import c_required, require_module


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
                               "1,2", "--repeats", "2", "--min-time", "0.001", "--settle",
                               "0", "--json", str(path), "--no-chart", "--quiet"])
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
    assert "CPU:" in out and "BLAS behind NumPy" in out and "ratio" in out
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


# ---------------------------------------------------------------------------
# machine info
# ---------------------------------------------------------------------------

from fastdense.bench import machine  # noqa: E402

GENOA = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9654 96-Core Processor
stepping\t: 1
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512vl

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 99
"""

SKYLAKE = """processor : 0
vendor_id : GenuineIntel
cpu family : 6
model : 85
model name : Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz
stepping : 04
flags : fpu sse2 avx avx2 avx512f
"""


@pytest.mark.parametrize("family, model, name", [
    (0x1A, 0x02, "Zen 5"), (0x1A, 0x44, "Zen 5"), (0x19, 0x11, "Zen 4"),
    (0x19, 0x61, "Zen 4"), (0x19, 0xA0, "Zen 4"), (0x19, 0x01, "Zen 3"),
    (0x19, 0x21, "Zen 3"), (0x19, 0x50, "Zen 3"), (0x17, 0x31, "Zen 2"),
    (0x17, 0x71, "Zen 2"), (0x17, 0x08, "Zen / Zen+"), (0x06, 0x55, None)])
def test_amd_generation_from_family_and_model(family, model, name):
    assert machine.amd_generation(family, model) == name


def test_cpu_info_parses_the_first_processor():
    ci = machine.cpu_info(GENOA)
    assert ci["model_name"] == "AMD EPYC 9654 96-Core Processor"
    assert (ci["vendor"], ci["family"], ci["model"], ci["stepping"]) == (
        "AuthenticAMD", 25, 17, 1)
    assert ci["generation"] == "Zen 4"
    assert {"avx2", "avx512f"} <= set(ci["flags"])
    text = machine.describe_cpu(ci)
    assert "AMD EPYC 9654" in text and "family 0x19 model 0x11: Zen 4" in text
    intel = machine.cpu_info(SKYLAKE)
    assert (intel["family"], intel["model"], intel["stepping"]) == (6, 85, 4)
    assert intel["generation"] is None
    assert "Intel family 0x6 model 0x55)" in machine.describe_cpu(intel)


def test_machine_info_names_cpu_blas_and_kernel_family():
    require_module("threadpoolctl")
    m = machine.machine_info()
    assert m["cpu"] and m["cpu"] == m["cpu_info"]["model_name"]
    assert m["cpu_text"].startswith(m["cpu"])
    if m["cpu_info"]["vendor"] == "AuthenticAMD" and m["cpu_info"]["family"] >= 0x17:
        assert m["cpu_info"]["generation"] and m["cpu_info"]["generation"] in m["cpu_text"]
    pools = m["blas"]["threadpools"]
    assert isinstance(pools, list) and pools, "NumPy's BLAS is not visible to threadpoolctl"
    for p in pools:
        assert p["user_api"] == "blas"
        for key in ("internal_api", "version", "num_threads"):
            assert key in p, key
    if pools[0]["internal_api"] == "openblas":
        assert pools[0]["architecture"] and m["blas_kernels"] == pools[0]["architecture"]
        assert ("kernels %s" % pools[0]["architecture"]) in m["blas_text"]
    assert m["threadpoolctl"]
    assert m["openblas_env"] == machine.openblas_env()


def test_openblas_env_finds_the_load_time_variables():
    env = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1", "PATH": "/bin"}
    assert machine.openblas_env(env) == {"OPENBLAS_CORETYPE": "Haswell"}
    env["OPENBLAS_L2_SIZE"] = "512"
    assert machine.openblas_env(env) == {"OPENBLAS_CORETYPE": "Haswell",
                                         "OPENBLAS_L2_SIZE": "512"}
    assert machine.openblas_env({}) == {}


def test_report_header_names_cpu_blas_and_threads(smoke_json):
    res, out = smoke_json
    m = res["machine"]
    assert ("CPU: " + m["cpu_text"]) in out
    assert ("BLAS behind NumPy (this process): " + m["blas_text"]) in out
    assert "threads: 1,2 -- fastdense.set_num_threads(n)" in out
    nb = res["numpy_blas"]
    assert nb["openblas_env"] == m["openblas_env"]
    assert nb["label_users"].startswith("NumPy as users have it (")


# ---------------------------------------------------------------------------
# the NumPy worker process
# ---------------------------------------------------------------------------

from fastdense.bench import worker as _worker  # noqa: E402
from fastdense.bench import cases as _cases  # noqa: E402


def test_worker_runs_without_the_removed_variables_and_samples(monkeypatch, ckernels):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    import os
    with _worker.Worker("test", remove=("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")) as w:
        assert w.removed[0] == "OPENBLAS_CORETYPE"
        assert w.info["pid"] != os.getpid()
        assert w.info["openblas_env"] == {}
        import fastdense
        assert w.info["fastdense"] == os.path.dirname(os.path.abspath(fastdense.__file__))
        case = _cases.kernel_cases("small")[0]
        key = w.make("case", case.spec, 0)
        s = w.sampler(key)
        s.warmup(1, 0.0)
        n = s.calibrate(0.001)
        assert isinstance(n, int) and n >= 1
        t = s.sample(n)
        assert _finite_positive(t)
        # the worker's samples interleave with this process's, in rotation
        calls = []
        got = bench.interleaved({"here": lambda: calls.append(1), "there": s}, repeats=4,
                                warmup=0, number=1)
        assert len(got["here"]) == len(got["there"]) == 4 and len(calls) == 4
        assert all(_finite_positive(x) for x in got["there"])
        # an error comes back with the worker's traceback; the worker lives on
        with pytest.raises(_worker.WorkerError, match="KeyError"):
            w.call(12345, "nothing")
        w.set_threads(1)
        assert _finite_positive(s.sample(1))
        w.drop(key)
        with pytest.raises(_worker.WorkerError):
            s.sample(1)
    assert w.returncode == 0


def test_worker_that_dies_is_a_clear_error():
    import os
    import signal
    w = _worker.Worker("test")
    try:
        os.kill(w.info["pid"], signal.SIGKILL)
        w._proc.wait()
        with pytest.raises(_worker.WorkerError, match="exited with status -9"):
            w.set_threads(1)
    finally:
        w.close()


def _run_bench(argv, tmp_path):
    import fastdense
    path = tmp_path / "bench.json"
    out = io.StringIO()
    backend, threads = fastdense.backend(), fastdense.get_num_threads()
    try:
        with contextlib.redirect_stdout(out):
            code = bench.main(argv + ["--json", str(path), "--no-chart", "--quiet"])
    finally:
        fastdense.set_backend(backend)
        fastdense.set_num_threads(threads)
    assert code == 0
    with open(path) as f:
        return json.load(f), out.getvalue()


SMALL_KERNELS = ["--quick", "--kernels-only", "--sizes", "small", "--threads", "1",
                 "--repeats", "2", "--min-time", "0.001"]


def test_settle_defaults():
    from fastdense.bench.cli import build_parser, settle_for
    quick = build_parser().parse_args(["--quick"])
    full = build_parser().parse_args([])
    given = build_parser().parse_args(["--quick", "--settle", "0.02"])
    assert settle_for(full, 1) == settle_for(quick, 1) == 0.0
    assert settle_for(full, 2) == settle_for(full, 2, True) == 0.15
    # --quick skips the quiet time only where a single NumPy runs
    assert settle_for(quick, 2) == 0.0 and settle_for(quick, 2, True) == 0.15
    assert settle_for(given, 2, True) == settle_for(given, 1) == 0.02


def test_coretype_set_measures_numpy_both_ways(monkeypatch, tmp_path, ckernels):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")      # fake, for this run
    res, out = _run_bench(SMALL_KERNELS, tmp_path)
    nb = res["numpy_blas"]
    assert nb["openblas_env"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert nb["measured_as_users"] is True
    assert nb["worker_openblas_env"] == {}
    assert nb["label_env"].startswith("NumPy (as the environment sets it: ")
    assert nb["label_users"].startswith("NumPy as users have it (")
    # the report says the variable is set, and shows both NumPy figures
    assert "OPENBLAS_CORETYPE=Haswell" in out and "SET in this environment" in out
    assert nb["label_env"] in out and nb["label_users"] in out
    assert "BLAS behind NumPy (worker, as users have it): " in out
    assert "np env" in out and "r env" in out
    gemm = [r for r in res["kernels"] if r["kernel"] in ("dot", "sgemm+bias+relu",
                                                          "sgemm gather")]
    other = [r for r in res["kernels"] if r not in gemm]
    assert gemm and other
    for r in gemm:
        assert r["numpy_where"] == "worker"
        for key in ("numpy_s", "numpy_env_s", "ratio", "ratio_env", "numpy_env_gflops"):
            assert _finite_positive(r[key]), (r["name"], key)
        # ratios are against NumPy as users have it (the worker's figure)
        assert r["ratio"] == pytest.approx(r["numpy_s"] / r["fastdense_s"])
        assert r["ratio_env"] == pytest.approx(r["numpy_env_s"] / r["fastdense_s"])
        assert len(r["samples"]["numpy@env"]) == len(r["samples"]["numpy"]) == 2
    for r in other:                   # no BLAS in these: measured here only
        assert r["numpy_where"] == "this process" and "numpy_env_s" not in r
    for p in res["blas_peak"]:
        assert _finite_positive(p["gflops"]) and _finite_positive(p["gflops_env"])


def test_no_openblas_variables_no_worker(monkeypatch, tmp_path, ckernels):
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    res, out = _run_bench(SMALL_KERNELS, tmp_path)
    nb = res["numpy_blas"]
    assert nb["openblas_env"] == {} and nb["measured_as_users"] is False
    assert "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: not set; NumPy runs as users have it" in out
    assert "np env" not in out
    for r in res["kernels"]:
        assert r["numpy_where"] == "this process" and "numpy_env_s" not in r


def test_no_users_numpy_flag_says_the_figures_are_the_environments(monkeypatch, tmp_path,
                                                                   ckernels):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    res, out = _run_bench(SMALL_KERNELS + ["--no-users-numpy"], tmp_path)
    nb = res["numpy_blas"]
    assert nb["measured_as_users"] is False and nb["why_not"] == "--no-users-numpy"
    assert "NumPy was NOT measured without" in out and nb["label_env"] in out
    assert all("numpy_env_s" not in r for r in res["kernels"])


# ---------------------------------------------------------------------------
# training rows (an MNIST slice) through the worker
# ---------------------------------------------------------------------------

def _need_mnist(res):
    for t in res["skipped_sections"]:
        if "MNIST could not be loaded" in t:
            if c_required():
                pytest.fail("CI: " + t)
            pytest.skip(t)


def test_training_rows_with_numpy_both_ways(monkeypatch, tmp_path, ckernels):
    from fastdense.bench import contenders as C
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    res, out = _run_bench(["--quick", "--no-kernels", "--no-imdb", "--sizes", "small",
                           "--threads", "1", "--no-torch", "--repeats", "2",
                           "--min-time", "0.001"], tmp_path)
    _need_mnist(res)
    (tr,), (pr,) = res["training"], res["predict"]
    c, p = tr["contenders"], pr["contenders"]
    assert tr["samples"] == 4096 and pr["rows"] == 1000
    for name in (C.FASTDENSE_C, C.FASTDENSE_NUMPY, C.FASTDENSE_NUMPY + "@env", C.SCRIPT,
                 C.SCRIPT + "@env", C.FLOOR, C.FLOOR + "@env"):
        assert _finite_positive(c[name]["seconds_per_epoch"]), name
    for name in (C.FASTDENSE_NUMPY, C.SCRIPT, C.FLOOR):
        assert c[name]["where"] == "worker" and c[name + "@env"]["where"] == "this process"
    assert c[C.FASTDENSE_C]["where"] == "this process"
    # the same seeded training in both processes: the same model
    assert c[C.SCRIPT]["test_accuracy"] == c[C.SCRIPT + "@env"]["test_accuracy"]
    assert 0.5 < c[C.SCRIPT]["test_accuracy"] <= 1.0
    # predict on the test images, as rows of the training table
    for name in (C.FASTDENSE_C, C.SCRIPT, C.SCRIPT + "@env"):
        assert _finite_positive(p[name]["seconds"]), name
        assert p[name]["vs_fastdense_c"] == pytest.approx(
            p[name]["seconds"] / p[C.FASTDENSE_C]["seconds"])
    assert C.FLOOR not in p
    assert "predict on the 1000 test images" in out
    assert ("numpy-script, " + res["numpy_blas"]["label_users"]) in out
    assert ("numpy-script, " + res["numpy_blas"]["label_env"]) in out
    # the sparse-input rows appear exactly when fastdense has set_sparse_inputs
    if C.sparse_modes_available():
        assert _finite_positive(c[C.FASTDENSE_C_DENSE]["seconds_per_epoch"])
    else:
        assert C.FASTDENSE_C_DENSE not in c
        assert C.SPARSE_MODES_MISSING in out


def test_training_contender_list():
    from fastdense.bench import contenders as C, sections
    names, skipped = sections.training_contenders(False, object(), sparse_rows=True)
    assert names[:2] == [C.FASTDENSE_C, C.FASTDENSE_C_DENSE]
    assert [n for n in names if n.endswith("@env")] == [n + "@env" for n in C.BLAS_CONTENDERS]
    names, skipped = sections.training_contenders(False, None, sparse_rows=False)
    assert C.FASTDENSE_C_DENSE not in names and not any(n.endswith("@env") for n in names)
    assert C.SPARSE_MODES_MISSING in skipped.values()
    assert skipped[C.TORCH] == "disabled (--no-torch)"


# ---------------------------------------------------------------------------
# IMDB: data, the NumPy contender, the rows
# ---------------------------------------------------------------------------

from fastdense.bench import data as _data  # noqa: E402


def test_imdb_data_is_deterministic_imdb_shaped_and_labelled_by_words():
    import numpy as np
    indptr, indices, labels = _data.imdb_parts("train", 2000)
    again = _data.imdb_parts("train", 2000)
    assert all(np.array_equal(a, b) for a, b in zip((indptr, indices, labels), again))
    other = _data.imdb_parts("test", 2000)
    assert not np.array_equal(other[1][:1000], indices[:1000])
    assert indptr[0] == 0 and indptr[-1] == len(indices) and len(indptr) == 2001
    assert indices.dtype == np.int32 and indices.min() >= 0 and indices.max() < 10000
    for i in range(0, 2000, 97):            # sorted and distinct within each review
        row = indices[indptr[i]:indptr[i + 1]]
        assert np.all(np.diff(row) > 0)
    s = _data.imdb_summary(indptr, indices)
    assert 0.012 <= s["density"] <= 0.02
    assert 110 <= s["mean_words_per_review"] <= 150
    assert labels.shape == (2000, 1) and set(np.unique(labels)) == {0.0, 1.0}
    assert 0.45 < labels.mean() < 0.55
    # the labels follow the words: the hidden rule alone predicts most of them
    w = _data._sentiment_weights(10000)
    score = np.add.reduceat(w[indices], indptr[:-1])
    assert ((score > _data._THRESHOLD) == (labels[:, 0] > 0.5)).mean() > 0.85
    x = _data.imdb_dense(indptr, indices)
    assert x.dtype == np.float32 and x.shape == (2000, 10000)
    assert x.sum() == len(indices) and x[0, indices[:indptr[1]]].min() == 1.0


def test_imdb_csr_is_the_dense_array(scipy_sparse):
    import numpy as np
    indptr, indices, _ = _data.imdb_parts("test", 300)
    csr = _data.imdb_csr(indptr, indices)
    assert isinstance(csr, scipy_sparse.csr_matrix) and csr.dtype == np.float32
    assert np.array_equal(csr.toarray(), _data.imdb_dense(indptr, indices))


def test_numpy_imdb_step_is_the_fastdense_algorithm(restore_fastdense_config):
    """One full-batch step of the NumPy contender gives fastdense's fit step."""
    import numpy as np
    from fastdense.bench import contenders as C
    from fastdense.bench.numpy_imdb import NumpyIMDB
    indptr, indices, y = _data.imdb_parts("train", 64, words=300)
    x = _data.imdb_dense(indptr, indices, words=300)
    ref = NumpyIMDB(n_in=300, seed=4)
    net = C.imdb_network(0, words=300)
    net.set_weights([p.copy() for p in ref.params()])
    loss, _ = ref.step(x, y)
    hist = net.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    assert hist.history["loss"][0] == pytest.approx(loss, rel=1e-4)
    for mine, theirs in zip(ref.params(), net.get_weights()):
        np.testing.assert_allclose(theirs, mine, rtol=1e-4, atol=1e-6)


def test_imdb_rows_small(tmp_path, ckernels):
    from fastdense.bench import contenders as C
    res, out = _run_bench(["--quick", "--no-kernels", "--no-mnist", "--sizes", "small",
                           "--threads", "1", "--imdb-epochs", "2"], tmp_path)
    (run,) = res["imdb"]
    assert run["epochs"] == 2 and run["batch_size"] == 512
    npy = run["contenders"][C.IMDB_NUMPY]
    assert len(npy["epoch_times"]) == 2 and _finite_positive(npy["seconds_per_epoch"])
    assert 0.0 <= npy["test_accuracy"] <= 1.0
    # the dense training and held-out arrays: 2 x 1024 x 10,000 float32
    assert npy["input_bytes"] == 2 * 1024 * 10000 * 4
    assert npy["peak_rss_bytes"] >= npy["input_bytes"] > npy["baseline_rss_bytes"] > 0
    assert res["imdb_data"]["rows"] == 1024 and res["imdb_data"]["words"] == 10000
    assert "IMDB-shaped bag of words" in out and "peak " in out
    ok, why = C.sparse_fit_support()
    assert res["imdb_gate"] == {"fit_takes_scipy_sparse": ok, "why_not": why}
    if ok:           # fit takes CSR (the sparse-input build): fastdense's row is there
        fd = run["contenders"][C.IMDB_FASTDENSE]
        assert _finite_positive(fd["seconds_per_epoch"]) and 0 <= fd["test_accuracy"] <= 1
        assert npy["vs_fastdense"] == pytest.approx(
            npy["seconds_per_epoch"] / fd["seconds_per_epoch"])
        assert fd["input_bytes"] < npy["input_bytes"] / 20
    else:            # no fake numbers: the row is absent and the report says why
        assert C.IMDB_FASTDENSE not in run["contenders"]
        assert "vs_fastdense" not in npy
        assert res["imdb_skipped"][C.IMDB_FASTDENSE] == why
        assert ("fastdense-csr: " + why) in out
        assert not any("IMDB" in s for s in res["slower_than_numpy"])
        try:
            import scipy  # noqa: F401
        except ImportError:
            return
        assert why.startswith(C.SPARSE_FIT_MISSING)
