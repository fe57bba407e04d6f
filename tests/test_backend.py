"""Backend control: backend/set_backend/use_backend, threads, show_config, the
environment variables (read at import, so tested in subprocesses), and the
fallback when the compiled extension cannot be imported."""
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastdense
from fastdense import ops

from conftest import REPO, require_ckernels


def run_python(code, env_update=None, env_remove=(), timeout=120):
    """Run ``code`` in a fresh interpreter with fastdense importable."""
    env = dict(os.environ)
    for key in ("FASTDENSE_BACKEND", "FASTDENSE_NUM_THREADS", "OMP_NUM_THREADS") + tuple(env_remove):
        env.pop(key, None)
    env.update(env_update or {})
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


# ---- in-process API ---------------------------------------------------------

def test_public_api_exists():
    for name in ("backend", "set_backend", "use_backend", "get_num_threads",
                 "set_num_threads", "show_config", "__version__"):
        assert hasattr(fastdense, name), name
    assert fastdense.backend() in ("c", "numpy")


def test_set_backend_round_trip(restore_fastdense_config):
    require_ckernels()
    fastdense.set_backend("numpy")
    assert fastdense.backend() == "numpy"
    fastdense.set_backend("c")
    assert fastdense.backend() == "c"


@pytest.mark.parametrize("name", ["C ", "cuda", "", "np", None, 1, "numpy2"])
def test_set_backend_unknown_is_value_error(restore_fastdense_config, name):
    before = fastdense.backend()
    with pytest.raises(ValueError):
        fastdense.set_backend(name)
    assert fastdense.backend() == before


def test_use_backend_restores(restore_fastdense_config):
    before = fastdense.backend()
    with fastdense.use_backend("numpy"):
        assert fastdense.backend() == "numpy"
    assert fastdense.backend() == before


def test_use_backend_restores_after_exception(restore_fastdense_config):
    before = fastdense.backend()
    with pytest.raises(KeyError):
        with fastdense.use_backend("numpy"):
            raise KeyError("boom")
    assert fastdense.backend() == before


def test_use_backend_nested(restore_fastdense_config):
    require_ckernels()
    with fastdense.use_backend("c"):
        with fastdense.use_backend("numpy"):
            assert fastdense.backend() == "numpy"
        assert fastdense.backend() == "c"


def test_use_backend_unknown_is_value_error_and_changes_nothing(restore_fastdense_config):
    before = fastdense.backend()
    with pytest.raises(ValueError):
        with fastdense.use_backend("gpu"):
            pass
    assert fastdense.backend() == before


@pytest.mark.parametrize("n", [1, 2, 7, np.int64(3)])
def test_set_num_threads(restore_fastdense_config, n):
    fastdense.set_num_threads(n)
    assert fastdense.get_num_threads() == int(n)
    assert type(fastdense.get_num_threads()) is int


@pytest.mark.parametrize("n", [0, -1, 1.5, "2", None])
def test_set_num_threads_bad_is_value_error(restore_fastdense_config, n):
    before = fastdense.get_num_threads()
    with pytest.raises((ValueError, TypeError)) as info:
        fastdense.set_num_threads(n)
    if isinstance(n, int):
        assert info.type is ValueError  # the contract: n < 1 is a ValueError
    assert fastdense.get_num_threads() == before


def test_threads_do_not_change_results(restore_fastdense_config):
    require_ckernels()
    a = np.random.default_rng(0).standard_normal((150, 300)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((300, 70)).astype(np.float32)
    with fastdense.use_backend("c"):
        fastdense.set_num_threads(1)
        r1, s1 = ops.dot(a, b), ops.relu(a)
        fastdense.set_num_threads(max(2, _cores()))
        r2, s2 = ops.dot(a, b), ops.relu(a)
    assert np.allclose(r1, r2, rtol=1e-5, atol=1e-4)
    assert np.array_equal(s1, s2)


def test_show_config_mentions_everything():
    buf = io.StringIO()
    fastdense.show_config(file=buf) if _accepts_file() else None
    text = buf.getvalue()
    if not text:  # show_config() printing to stdout only
        import contextlib
        with contextlib.redirect_stdout(buf):
            fastdense.show_config()
        text = buf.getvalue()
    low = text.lower()
    assert fastdense.__version__ in text
    assert fastdense.backend() in low
    assert "openmp" in low
    assert "thread" in low and str(fastdense.get_num_threads()) in text
    assert "simd" in low


def _accepts_file():
    import inspect
    return "file" in inspect.signature(fastdense.show_config).parameters


# ---- environment variables (read at import) ----------------------------------

PRINT_STATE = "import fastdense, json; print(json.dumps([fastdense.backend(), fastdense.get_num_threads()]))"


def state(env_update=None, code=PRINT_STATE):
    proc = run_python(code, env_update)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_env_defaults():
    require_ckernels()
    backend, threads = state()
    assert backend == "c"
    assert threads == _cores()


@pytest.mark.parametrize("value, expected", [("numpy", "numpy"), ("NumPy", "numpy"),
                                             ("c", "c"), (" c ", "c")])
def test_env_backend(value, expected):
    if expected == "c":
        require_ckernels()
    assert state({"FASTDENSE_BACKEND": value})[0] == expected


def test_env_backend_unknown_fails_import_clearly():
    proc = run_python("import fastdense", {"FASTDENSE_BACKEND": "cuda"})
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and "FASTDENSE_BACKEND" in proc.stderr


def test_env_threads_precedence():
    assert state({"FASTDENSE_NUM_THREADS": "3"})[1] == 3
    assert state({"OMP_NUM_THREADS": "5"})[1] == 5
    assert state({"FASTDENSE_NUM_THREADS": "2", "OMP_NUM_THREADS": "5"})[1] == 2
    assert state({"OMP_NUM_THREADS": "4,2"})[1] == 4  # nested-levels list: the first


@pytest.mark.parametrize("var", ["FASTDENSE_NUM_THREADS", "OMP_NUM_THREADS"])
@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_env_threads_bad_fails_clearly(var, value):
    proc = run_python("import fastdense", {var: value})
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and var in proc.stderr


def test_env_data_set_by_conftest():
    shared = os.path.join(os.path.dirname(REPO), "shared", "data")
    if os.path.isdir(shared):
        assert os.environ.get("FASTDENSE_DATA")


# ---- the fallback: the compiled module cannot be imported ---------------------

BLOCK_C = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "fastdense._ckernels":
            raise ImportError("blocked by the test: no compiled kernels")
        return None
sys.meta_path.insert(0, _Block())
"""


def test_fallback_import_and_backend():
    code = BLOCK_C + """
import fastdense, json
try:
    fastdense.set_backend("c")
    err = None
except RuntimeError as e:
    err = str(e)
buf = __import__("io").StringIO()
import contextlib
with contextlib.redirect_stdout(buf):
    fastdense.show_config()
print(json.dumps([fastdense.backend(), err, buf.getvalue()]))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    backend, err, config = json.loads(proc.stdout.strip().splitlines()[-1])
    assert backend == "numpy"
    assert err is not None, "set_backend('c') must raise RuntimeError without the extension"
    assert "blocked by the test" in err, "the RuntimeError must say why: %r" % err
    assert "numpy" in config.lower()


def test_fallback_env_backend_c_is_runtime_error():
    proc = run_python(BLOCK_C + "import fastdense\n", {"FASTDENSE_BACKEND": "c"})
    assert proc.returncode != 0
    assert "RuntimeError" in proc.stderr and "blocked by the test" in proc.stderr


def _fallback_inputs(rng):
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    x = f(37, 29)
    x[3, 4], x[5, 6], x[7, 8] = np.nan, np.inf, -np.inf
    return {
        "a": f(37, 51), "b": f(51, 29), "x": x, "bias": f(29),
        "xF": np.asfortranarray(f(37, 29)), "xs": f(74, 87)[::2, ::3],
        "logits": f(16, 10), "labels": rng.integers(0, 10, 16),
        "p": f(20, 30), "g": f(20, 30), "acc": np.abs(f(20, 30)), "m": f(20, 30),
        "v": np.abs(f(20, 30)),
    }


FALLBACK_OPS = """
def compute(d):
    from fastdense import ops
    r = {}
    r["dot"] = ops.dot(d["a"], d["b"])
    r["dot_T"] = ops.dot(d["b"].T, d["a"].T)
    r["add"] = ops.add(d["x"], d["bias"])
    r["add_F"] = ops.add(d["xF"], d["xs"])
    r["relu"] = ops.relu(d["x"])
    r["relu_s"] = ops.relu(d["xs"])
    r["softmax"] = ops.softmax(d["x"])
    r["softmax0"] = ops.softmax(d["xF"], axis=0)
    r["relu_backward"] = ops.relu_backward(d["x"], d["xF"])
    r["bias_grad"] = ops.bias_grad(d["xs"])
    loss, grad = ops.softmax_cross_entropy(d["logits"], d["labels"])
    r["xent_loss"], r["xent_grad"] = np.float64(loss), grad
    p, acc = d["p"].copy(), d["acc"].copy()
    ops.rmsprop_update(p, d["g"], acc)
    r["rms_p"], r["rms_acc"] = p, acc
    p, vel = d["p"].copy(), d["m"].copy()
    ops.sgd_update(p, d["g"], vel, lr=0.1, momentum=0.9, nesterov=True)
    r["sgd_p"], r["sgd_v"] = p, vel
    p, m, v = d["p"].copy(), d["m"].copy(), d["v"].copy()
    ops.adam_update(p, d["g"], m, v, 3)
    r["adam_p"], r["adam_m"], r["adam_v"] = p, m, v
    return r
"""


def test_fallback_computes_what_the_c_backend_computes(tmp_path, restore_fastdense_config):
    """Same inputs: C backend in this process, blocked extension in a child."""
    require_ckernels()
    data = _fallback_inputs(np.random.default_rng(42))
    np.savez(tmp_path / "inputs.npz", **data)
    ns = {"np": np}
    exec(FALLBACK_OPS, ns)
    with fastdense.use_backend("c"), np.errstate(all="ignore"):
        want = ns["compute"](data)

    code = BLOCK_C + "import numpy as np\n" + FALLBACK_OPS + """
import fastdense, sys
assert fastdense.backend() == "numpy", fastdense.backend()
d = dict(np.load(sys.argv[1]))
d["xF"] = np.asfortranarray(d["xF"])
big = np.zeros((74, 87), np.float32); big[::2, ::3] = d["xs"]; d["xs"] = big[::2, ::3]
with np.errstate(all="ignore"):
    r = compute(d)
np.savez(sys.argv[2], **r)
print("ok")
"""
    env = dict(os.environ)
    env.pop("FASTDENSE_BACKEND", None)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "inputs.npz"),
                           str(tmp_path / "out.npz")], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    got = dict(np.load(tmp_path / "out.npz"))
    assert set(got) == set(want)
    for key in want:
        w, g = np.asarray(want[key]), got[key]
        assert g.shape == w.shape and g.dtype == w.dtype, key
        assert np.array_equal(np.isnan(g), np.isnan(w)), key
        assert np.array_equal(np.isinf(g), np.isinf(w)), key
        fin = np.isfinite(w)
        # float32 rounding, scaled by the size of the values (dot: k = 51 terms)
        scale = np.max(np.abs(w[fin])) if fin.any() else 0.0
        assert np.allclose(g[fin], w[fin], rtol=1e-5, atol=1e-5 * (1 + scale)), key


# ---- the test-suite rule: no C extension is a failure in CI, a skip elsewhere ----

@pytest.mark.parametrize("ci", [True, False])
def test_missing_extension_fails_in_ci_and_skips_elsewhere(ci):
    code = BLOCK_C + """
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rfs",
                      "tests/test_kernels.py::test_sgemm_relu_keeps_nan"]))
"""
    env_update = {"CI": "true"} if ci else {}
    env_remove = () if ci else ("CI", "FASTDENSE_REQUIRE_C")
    proc = run_python(code, env_update, env_remove=env_remove)
    out = proc.stdout + proc.stderr
    if ci:
        assert proc.returncode == 1, out
        # pytest.fail in a fixture is reported as an error: not a pass, not a skip
        assert ("1 failed" in out or "1 error" in out) and "blocked by the test" in out, out
        assert "skipped" not in out, out
    else:
        assert proc.returncode == 0, out
        assert "1 skipped" in out and "blocked by the test" in out, out


def test_extension_exports_only_its_init_function():
    """The fd_* kernels are built with hidden visibility: another library's
    symbol of the same name can neither clash with nor replace them."""
    import ctypes
    import sys as _sys
    if not _sys.platform.startswith("linux"):
        pytest.skip("ELF symbol visibility")
    ck = require_ckernels()
    lib = ctypes.CDLL(ck.__file__)
    assert hasattr(lib, "PyInit__ckernels")
    for name in ("fd_sgemm", "fd_simd_level", "fd_rows_select", "fd_softmax_xent_f32",
                 "fd_rmsprop_update_f32", "fd_exp_sum_avx512"):
        assert not hasattr(lib, name), "%s is exported from %s" % (name, ck.__file__)
