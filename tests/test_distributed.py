"""Data-parallel training over MPI (fastdense.distributed), at 2 ranks on this machine.

The scripts in tests/mpi/ run under ``mpiexec -n 2`` in subprocesses, with a
timeout (a hang fails the test, never the suite), and write what each rank
saw; the same scripts run as plain ``python`` are the single-process
reference.  mpi4py and an ``mpiexec`` are optional extras: like the C
extension, they FAIL the tests in CI (CI set) when missing and skip elsewhere.
``FASTDENSE_MPIEXEC`` names another launcher.

* fit at 2 ranks equals the single-process fit from the same seed to float
  rounding (weights, History, evaluate), and both ranks hold bit-identical
  weights after every step; odd batch sizes, a last batch of one row, ranks
  that get no rows, shuffle off, validation, SGD/Adam/MSE, sharded data,
  train_on_batch;
* only rank 0 prints and writes files;
* agreement: a bad argument on one rank or ranks that disagree raise on both,
  the model unchanged, and the world still works afterwards;
* stop flags from one rank stop both at the same step; batch logs are global;
* an error on one rank after the agreement ends both (MPI_Abort), within the
  timeout;
* a world of one (no mpiexec) is exactly no init at all; without mpi4py the
  rest of fastdense works (a subprocess that blocks its import).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, c_required, require_module

MPI_DIR = os.path.join(REPO, "tests", "mpi")
TIMEOUT = float(os.environ.get("FASTDENSE_MPI_TEST_TIMEOUT", "300"))
EPS32 = float(np.finfo(np.float32).eps)
_LAUNCHER_VARS = ("PMI_", "OMPI_", "PMIX_", "MPI_LOCAL", "HYDRA_", "MV2_")


def _clean_env(**extra):
    """The environment without any launcher's variables (pytest itself may run
    under one), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LAUNCHER_VARS)}
    env.update(extra)
    return env


def _run(cmd, timeout=TIMEOUT, env=None):
    """(returncode, stdout, stderr) of cmd; a run past the timeout is a failure."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env if env is not None else _clean_env(),
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail("%s did not end within %.0f s (a hang):\nstdout:\n%s\nstderr:\n%s"
                    % (" ".join(cmd), timeout, out[-3000:], err[-3000:]))
    return proc.returncode, out, err


def _missing(reason):
    if c_required():
        pytest.fail(reason + " (CI installs mpi4py and the MPICH wheels: pip install "
                    "-e '.[test,mpi]')", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def mpiexec():
    """The launcher command for 2 ranks here (Open MPI: oversubscribe, root)."""
    require_module("mpi4py")
    exe = os.environ.get("FASTDENSE_MPIEXEC")
    if not exe:
        beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        exe = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if not exe:
        _missing("no mpiexec beside %s or on PATH" % sys.executable)
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True,
                                 timeout=60, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        _missing("%s --version failed: %s" % (exe, exc))
    text = version.stdout + version.stderr
    cmd = [exe]
    if "Open MPI" in text or "OpenRTE" in text:
        cmd += ["--oversubscribe"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd += ["--allow-run-as-root"]
    return cmd + ["-n", "2"]


def _script(name):
    return os.path.join(MPI_DIR, name)


def _load(folder, name, rank):
    with open(os.path.join(folder, "%s.rank%d.json" % (name, rank))) as f:
        result = json.load(f)
    npz = os.path.join(folder, "%s.rank%d.npz" % (name, rank))
    weights = None
    if os.path.exists(npz):
        with np.load(npz) as data:
            weights = [data["a%d" % i] for i in range(len(data.files))]
    return result, weights


# ---- fits at 2 ranks against one process ------------------------------------------------

@pytest.fixture(scope="module")
def fit_runs(mpiexec, tmp_path_factory):
    single = str(tmp_path_factory.mktemp("single"))
    world = str(tmp_path_factory.mktemp("world"))
    rc, out, err = _run([sys.executable, _script("fit_cases.py"), single])
    assert rc == 0, "the single-process run failed:\n%s\n%s" % (out, err)
    rc, out, err = _run(mpiexec + [sys.executable, _script("fit_cases.py"), world])
    assert rc == 0, "the 2-rank run failed:\n%s\n%s" % (out, err)
    assert "DONE rank 0 of 2" in out and "DONE rank 1 of 2" in out, out
    return single, world


FIT_CASES = ["even", "odd", "last_row", "batch1", "noshuffle_split", "sgd_momentum_sparse_val",
             "adam_mse", "sgd_long", "train_on_batch", "sharded", "sharded_train_on_batch",
             "l2",      # l2: the penalty's gradient is added once (on rank 0)
             "dropout"]  # the ranks' slices draw the one-process masks


def _steps(result):
    return result.get("iterations") or 16     # train_on_batch: at most 16 steps in all


@pytest.mark.parametrize("name", FIT_CASES)
def test_both_ranks_hold_bit_identical_weights(fit_runs, name):
    _, world = fit_runs
    r0, w0 = _load(world, name, 0)
    r1, w1 = _load(world, name, 1)
    assert r0["size"] == r1["size"] == 2
    assert len(w0) == len(w1) == 4
    for a, b in zip(w0, w1):
        assert a.dtype == b.dtype == np.float32
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
    # the figures every rank reports are the same bits too
    for key in ("history", "evaluate", "results", "iterations", "crcs"):
        assert r0.get(key) == r1.get(key), key


@pytest.mark.parametrize("name", FIT_CASES)
def test_two_ranks_match_one_process_to_float_rounding(fit_runs, name):
    single, world = fit_runs
    ref, w_ref = _load(single, name, 0)
    got, w_got = _load(world, name, 0)
    assert ref["size"] == 1 and got["size"] == 2
    # each step may differ by summation order only: a few float32 roundings of the
    # weights' scale per step (a lost or doubled gradient is off by ~lr per step)
    steps = _steps(got)
    for a, b in zip(w_got, w_ref):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=0, atol=4 * steps * EPS32 * scale)
        assert not np.array_equal(b, np.zeros_like(b))
    if "history" in ref:
        assert got["history"].keys() == ref["history"].keys()
        for key in ref["history"]:
            np.testing.assert_allclose(got["history"][key], ref["history"][key],
                                       rtol=1e-5, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(got["evaluate"], ref["evaluate"], rtol=1e-5, atol=1e-6)
        assert got.get("iterations") == ref.get("iterations")
    else:
        np.testing.assert_allclose(got["results"], ref["results"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["even", "odd"])
def test_weights_are_bit_identical_after_every_step(fit_runs, name):
    _, world = fit_runs
    r0, _ = _load(world, name, 0)
    r1, _ = _load(world, name, 1)
    assert len(r0["crcs"]) == r0["iterations"] > 10
    assert r0["crcs"] == r1["crcs"]
    assert len(set(r0["crcs"])) == len(r0["crcs"]), "the weights must change every step"


def test_only_rank_0_prints_progress(fit_runs):
    _, world = fit_runs
    r0, _ = _load(world, "even", 0)
    r1, _ = _load(world, "even", 1)
    assert r0["stdout"].count("Epoch ") == 2 and "loss:" in r0["stdout"]
    assert "accuracy:" in r0["stdout_evaluate"]
    assert r1["stdout"] == "" and r1["stdout_evaluate"] == ""


def test_only_rank_0_writes_files(fit_runs):
    from fastdense import models
    _, world = fit_runs
    assert os.path.exists(os.path.join(world, "saved_model.rank0.npz"))
    assert os.path.exists(os.path.join(world, "saved_weights.rank0.npz"))
    assert not os.path.exists(os.path.join(world, "saved_model.rank1.npz"))
    assert not os.path.exists(os.path.join(world, "saved_weights.rank1.npz"))
    _, weights = _load(world, "sharded_train_on_batch", 0)
    back = models.load_model(os.path.join(world, "saved_model.rank0.npz"))
    for a, b in zip(back.get_weights(), weights):
        assert np.array_equal(a, b)


# ---- agreement, stop flags, repair (one 2-rank run) ---------------------------------------

@pytest.fixture(scope="module")
def control(mpiexec, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("control"))
    rc, out, err = _run(mpiexec + [sys.executable, _script("control.py"), folder])
    assert rc == 0, "the control run failed:\n%s\n%s" % (out, err)
    return [_load(folder, "control", r)[0] for r in (0, 1)]


def test_rank_size_main_and_local_slice(control):
    r0, r1 = control
    assert (r0["rank"], r0["size"], r1["rank"], r1["size"]) == (0, 2, 1, 2)
    assert r0["is_main_process"] is True and r1["is_main_process"] is False
    assert r0["local_slice"] == [0, 4] and r1["local_slice"] == [4, 7]


@pytest.mark.parametrize("name,field,shown", [
    ("mismatch_batch", "batch_size", "rank 0: 32; rank 1: 16"),
    ("mismatch_epochs", "epochs", "rank 0: 2; rank 1: 3"),
    ("mismatch_seed", "random state", "set_random_seed"),
    ("mismatch_data", "x", "crc"),
    ("mismatch_model", "model layers", "Dense((12, 17)"),
])
def test_a_mismatch_is_an_error_on_every_rank(control, name, field, shown):
    for r in control:
        kind, message = r[name]["error"]
        assert kind == "ValueError"
        assert "the ranks disagree on" in message and field in message and shown in message
        assert r[name]["unchanged"] and r[name]["iterations"] == 0
    assert control[0][name]["error"] == control[1][name]["error"]


@pytest.mark.parametrize("name,own", [
    ("bad_input_one_rank", "expected x of shape (N, 12), got (96, 11)"),
    ("bad_batch_one_rank", "batch_size must be >= 1, got 0"),
    ("bad_y_one_rank", "x has 96, y has 50"),
    ("evaluate_bad_input_one_rank", "y has shape (96, 2)"),
])
def test_an_error_on_one_rank_raises_on_every_rank(control, name, own):
    r0, r1 = control
    assert r1[name]["error"][0] == "ValueError" and own in r1[name]["error"][1]
    kind, message = r0[name]["error"]
    assert kind == "ValueError"
    assert "failed on rank 1 of 2" in message and own in message
    assert r0[name]["unchanged"] and r1[name]["unchanged"]
    assert r0[name]["iterations"] == r1[name]["iterations"] == 0


def test_evaluate_refuses_ranks_with_different_weights(control):
    for r in control:
        kind, message = r["evaluate_weights_differ"]["error"]
        assert kind == "ValueError" and "weights" in message and "rank 0's weights" in message


def test_the_world_works_after_the_errors(control):
    r0, r1 = control
    assert r0["normal"]["error"] is None and r0["normal"]["iterations"] == 12
    assert r0["normal_crc"] == r1["normal_crc"]
    assert r0["normal_history"] == r1["normal_history"]


def test_a_stop_flag_on_one_rank_stops_every_rank(control):
    r0, r1 = control
    # EarlyStopping-like, per epoch, on rank 1 only: both stop after epoch 2
    assert len(r0["stop_epoch_history"]["loss"]) == len(r1["stop_epoch_history"]["loss"]) == 2
    assert r0["stop_epoch"]["iterations"] == r1["stop_epoch"]["iterations"] == 12
    assert r0["stop_epoch_crc"] == r1["stop_epoch_crc"]
    # per batch (TerminateOnNaN-like), on rank 1 only: both stop after batch 3
    assert r0["stop_batch"]["iterations"] == r1["stop_batch"]["iterations"] == 4
    assert r0["stop_batch_crc"] == r1["stop_batch_crc"]


def test_terminate_on_nan_sees_the_global_batch_loss(control):
    r0, r1 = control
    # the NaN row is in rank 0's slice; rank 1's own rows are finite, yet its batch
    # logs say NaN (they are the global batch's) and both stop at batch 2
    assert r0["nan_stop"]["iterations"] == r1["nan_stop"]["iterations"] == 3
    logs0, logs1 = r0["nan_batch_logs"], r1["nan_batch_logs"]
    assert len(logs0) == 3 and np.isnan(logs0[2][0]) and np.isnan(logs1[2][0])
    assert [l[1:] for l in logs0] == [l[1:] for l in logs1]
    assert all(l[2] == 16 for l in logs0)
    assert logs0[:2] == logs1[:2]
    assert "Invalid loss" in r0["nan_printed"]


def test_early_stopping_and_nested_evaluate_agree(control):
    r0, r1 = control
    assert r0["early_history"] == r1["early_history"]
    assert 2 <= len(r0["early_history"]["loss"]) < 30, "EarlyStopping should stop"
    assert r0["early_crc"] == r1["early_crc"]
    assert len(r0["nested_evaluate"]) == 2
    assert r0["nested_evaluate"] == r1["nested_evaluate"]


def test_file_callbacks_write_and_print_on_rank_0_only(control):
    r0, r1 = control
    for r in control:
        assert r["file_callbacks"]["error"] is None, r["file_callbacks"]
        # every rank lists the folder after its fit: only rank 0's files are there
        assert [f for f in r["file_callbacks_files"] if "rank1" in f] == []
    assert "cb.ckpt.rank0.npz" in r0["file_callbacks_files"]
    assert "cb.log.rank0.csv" in r0["file_callbacks_files"]
    assert r0["file_callbacks_printed"] != "" and r1["file_callbacks_printed"] == ""
    assert r0["file_callbacks_lr"] == r1["file_callbacks_lr"]
    assert r0["file_callbacks_lr"][-1] < r0["file_callbacks_lr"][0]
    assert r0["file_callbacks_crc"] == r1["file_callbacks_crc"]


def test_no_allocation_per_step(control):
    r0, r1 = control
    for r in control:
        assert r["step_allocations"]["error"] is None
        # six steps over a 209 kB gradient vector allocate less than a tenth of it
        assert r["step_peak_bytes"] < r["flat_bytes"] / 10, r["step_peak_bytes"]


def test_diverged_weights_are_repaired_from_rank_0(control):
    r0, r1 = control
    assert r0["diverge_crc"] == r1["diverge_crc"]
    assert r0["diverge_history"] == r1["diverge_history"]
    assert len(r0["diverge_warnings"]) == 1 and "diverged" in r0["diverge_warnings"][0]
    assert r1["diverge_warnings"] == []
    assert r0["gradient_sum_after"] == r1["gradient_sum_after"] == "reduce_bcast"


# ---- an error on one rank after the agreement ends the job ----------------------------

@pytest.mark.parametrize("mode,message,code", [
    ("callback_raises", "RuntimeError: boom from a callback on rank 1", 1),
    ("keyboard_interrupt", "fit raised KeyboardInterrupt", 130),
    ("uncaught_before_fit", "FileNotFoundError: rank 1 could not read its data file", 1),
    ("evaluate_raises", "evaluate raised MemoryError: rank 1 ran out of memory", 1),
])
def test_an_error_on_one_rank_ends_every_rank(mpiexec, mode, message, code):
    rc, out, err = _run(mpiexec + [sys.executable, _script("abort.py"), mode],
                        timeout=min(TIMEOUT, 180))
    assert rc != 0
    assert "DONE" not in out, "a rank carried on: %s" % out
    assert message in err, err[-3000:]
    assert "rank 1 of 2" in err and "MPI_Abort" in err
    if "MPICH" in err or "application called MPI_Abort" in err:
        assert rc == code


def test_an_uncaught_mismatch_ends_every_rank_without_abort(mpiexec):
    rc, out, err = _run(mpiexec + [sys.executable, _script("abort.py"), "uncaught_mismatch"],
                        timeout=min(TIMEOUT, 180))
    assert rc != 0 and "DONE" not in out
    assert "the ranks disagree on batch_size" in err and "rank 1: 9" in err
    assert "MPI_Abort" not in err
    assert err.count("Traceback") == 1, "rank 0 alone tells a collective error"


# ---- a world of one, and no mpi4py -------------------------------------------------

def _strip_times(text):
    return re.sub(r" - \d+s( \d+(us|ms|s)/step)?", " - T", text)


def test_a_world_of_one_is_exactly_no_init(tmp_path):
    out = {}
    for mode in ("init", "noinit"):
        rc, stdout, err = _run([sys.executable, _script("world_of_one.py"), str(tmp_path),
                                mode])
        assert rc == 0, err
        with open(tmp_path / (mode + ".txt")) as f:
            out[mode] = f.read()
    assert _strip_times(out["init"]) == _strip_times(out["noinit"])
    assert "Epoch 3/3" in out["init"]
    with np.load(tmp_path / "init.npz") as a, np.load(tmp_path / "noinit.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)), k
    assert (tmp_path / "init.model").read_bytes() == (tmp_path / "noinit.model").read_bytes()


def test_fastdense_works_without_mpi4py():
    rc, out, err = _run([sys.executable, _script("without_mpi4py.py"), "scenario"],
                        timeout=min(TIMEOUT, 240))
    assert rc == 0, out + err
    assert "without mpi4py: OK" in out


def test_the_suite_runs_without_mpi4py():
    rc, out, err = _run([sys.executable, _script("without_mpi4py.py"), "pytest", "-q",
                         "-p", "no:cacheprovider", "tests/test_engine.py"],
                        timeout=min(TIMEOUT, 600))
    assert rc == 0, out[-5000:] + err[-3000:]
    assert re.search(r"\d+ passed", out) and " failed" not in out


# ---- in-process pieces (no MPI) -----------------------------------------------------

def test_split_cuts_contiguous_pieces_first_ranks_larger():
    from fastdense.distributed import _split
    for m in range(0, 40):
        for parts in range(1, 6):
            pieces = [_split(m, parts, r) for r in range(parts)]
            assert pieces[0][0] == 0 and pieces[-1][1] == m
            assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
            sizes = [hi - lo for lo, hi in pieces]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_arguments_are_checked_before_anything_joins():
    import fastdense.distributed as dist
    with pytest.raises(ValueError, match="replicated"):
        dist.init(data="scattered")
    assert not dist.is_initialized() and dist.size() == 1 and dist.is_main()
    with pytest.raises(ValueError, match="at least|>= 0"):
        dist.local_slice(-1)
    assert dist.local_slice(5) == slice(0, 5)
    assert dist.call_comm() is None


def test_a_bad_allreduce_choice_is_refused(monkeypatch):
    import fastdense.distributed as dist
    monkeypatch.setenv("FASTDENSE_ALLREDUCE", "ring")
    with pytest.raises(ValueError, match="reduce_bcast"):
        dist.init()
    assert not dist.is_initialized()


def test_the_local_comm_hooks_are_the_single_process_loop():
    from fastdense.engine.training import LocalComm
    c = LocalComm()
    assert c.schedule(203, 31) == (203, 7) and c.schedule(5, 5) == (5, 1)
    assert c.local_rows(3, 93, 124) == (93, 124) and c.eval_rows(17) == (0, 17)
    assert c.any(True) is True and c.any(0) is False
    assert c.global_batch(9) == 9 and c.is_main and c.rank == 0 and c.size == 1
