"""The bench's sections: each runs its contenders interleaved and returns
plain dicts (the JSON; ``report.py`` prints them).

* :func:`run_kernels` -- every kernel case, fastdense against NumPy;
* :func:`blas_peak` -- NumPy's rate on a large square product;
* :func:`run_scaling` -- the step's six products at 1 thread and at all;
* :func:`run_training` -- MNIST epochs of every contender, then predict on
  the 10,000 test images with the trained models;
* :func:`run_imdb` -- the book's IMDB network, fastdense from CSR against
  NumPy on the dense array, each in its own process (peak memory).

``users`` is the NumPy worker (``worker.Worker``) when NumPy must also be
measured as users have it (the environment sets OPENBLAS_CORETYPE or
OPENBLAS_L2_SIZE), else None.  With a worker, every NumPy figure that goes
through the BLAS is measured twice: ``numpy`` (the worker: the figure that
ratios use) and ``numpy@env`` (this process), all in one interleaved
rotation with fastdense.
"""
import time

import numpy as np

from .. import _config
from . import cases as _cases
from . import contenders as C
from .machine import have_threadpoolctl
from .timing import interleaved, median

F32 = np.float32
ENV = C.ENV


def _fmt_ratio(r):
    return "%.2fx" % r if r is not None and r == r else "-"


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------

def blas_peak(threads, size, users=None, settle=0.0):
    """NumPy's GFLOP/s on a size x size product: the BLAS rate to compare with
    (``gflops``: as users have it; ``gflops_env``: this process, with a worker)."""
    n = size
    fns = {"numpy": _cases.peak_side(n)}
    key = None
    if users is not None:
        key = users.make("peak", n)
        fns = {"numpy": users.sampler(key), "numpy" + ENV: fns["numpy"]}
    try:
        s = interleaved(fns, repeats=3 if n <= 1024 else 5, min_time=0.05, warmup=1,
                        settle=settle if users is not None else 0.0)
    finally:
        if key is not None:
            users.drop(key)
    flops = 2.0 * n ** 3
    out = {"threads": threads, "shape": "%dx%d @ %dx%d" % (n, n, n, n),
           "gflops": flops / min(s["numpy"]) / 1e9}
    if users is not None:
        out["gflops_env"] = flops / min(s["numpy" + ENV]) / 1e9
    return out


def run_kernels(cases, threads, repeats, min_time, settle, peak, log, users=None):
    """One row per case: medians of ``repeats`` interleaved samples per side.

    With ``users``, the NumPy side of every GEMM case (``case.blas``) also
    runs in the worker: ``numpy_s`` is then the worker's figure (NumPy as
    users have it), ``numpy_env_s`` this process's.
    """
    results = []
    rng = np.random.default_rng(0)
    for i, case in enumerate(cases):
        fns = case.setup(rng)
        key = None
        if users is not None and case.blas:
            key = users.make("case", case.spec, 1000 + i)
            fns = {"fastdense": fns["fastdense"], "numpy": users.sampler(key),
                   "numpy" + ENV: fns["numpy"]}
        try:
            s = interleaved(fns, repeats=repeats, min_time=min_time, settle=settle)
        finally:
            if key is not None:
                users.drop(key)
        fd, nps = median(s["fastdense"]), median(s["numpy"])
        rec = {"kernel": case.kernel, "shape": case.shape, "layout": case.layout,
               "role": case.role, "name": case.name, "threads": threads,
               "fastdense_s": fd, "numpy_s": nps, "ratio": nps / fd,
               "fastdense_min_s": min(s["fastdense"]), "numpy_min_s": min(s["numpy"]),
               "ratio_of_mins": min(s["numpy"]) / min(s["fastdense"]),
               "numpy_where": "worker" if key is not None else "this process",
               "repeats": repeats, "samples": s}
        if key is not None:
            ne = median(s["numpy" + ENV])
            rec.update({"numpy_env_s": ne, "ratio_env": ne / fd,
                        "numpy_env_min_s": min(s["numpy" + ENV])})
        if case.flops:
            rec["fastdense_gflops"] = case.flops / fd / 1e9
            rec["numpy_gflops"] = case.flops / nps / 1e9
            rec["pct_of_blas"] = 100.0 * rec["fastdense_gflops"] / rec["numpy_gflops"]
            if peak:
                rec["pct_of_blas_peak"] = 100.0 * rec["fastdense_gflops"] / peak
            if key is not None:
                rec["numpy_env_gflops"] = case.flops / rec["numpy_env_s"] / 1e9
        results.append(rec)
        log("  %-58s %s%s" % (case.name, _fmt_ratio(rec["ratio"]), (
            "  (vs NumPy as the environment sets it: %s)" % _fmt_ratio(rec["ratio_env"]))
            if key is not None else ""))
    return results


# ---------------------------------------------------------------------------
# thread scaling of the training step's products
# ---------------------------------------------------------------------------

def run_scaling(nmax, repeats, min_time, settle, log, products=_cases.STEP_PRODUCTS,
                users=None):
    """nmax-thread against 1-thread time of each step product, both sides.

    fastdense: ``_ckernels.sgemm`` with ``nthreads`` 1 and nmax, interleaved.
    NumPy: ``np.dot`` under ``threadpool_limits(1)`` and ``(nmax)``, the two
    alternating every round (in the worker, as users have it, when there is
    one).  Medians of ``repeats`` samples.
    """
    K = _config._ckernels
    rng = np.random.default_rng(3)
    have_tpc = have_threadpoolctl()
    rows = []
    for i, (m, k, n, a_t, b_t, role) in enumerate(products):
        a, b, c = _cases.step_operands(rng, m, k, n, a_t, b_t)
        fd = interleaved({1: lambda: K.sgemm(a, b, c, nthreads=1),
                          nmax: lambda: K.sgemm(a, b, c, nthreads=nmax)},
                         repeats=repeats, min_time=min_time, settle=settle)
        npy = {1: [], nmax: []}
        if have_tpc:
            from threadpoolctl import threadpool_limits
            key = users.make("scaling", m, k, n, a_t, b_t, 2000 + i) if users else None
            try:
                for r in range(repeats):
                    for nt in ((1, nmax) if r % 2 == 0 else (nmax, 1)):
                        if key is not None:
                            users.set_threads(nt)
                            s = interleaved({nt: users.sampler(key)}, repeats=1,
                                            min_time=min_time, settle=settle)
                        else:
                            with threadpool_limits(nt, user_api="blas"):
                                s = interleaved({nt: lambda: np.dot(a, b, out=c)},
                                                repeats=1, min_time=min_time, settle=settle)
                        npy[nt] += s[nt]
            finally:
                if key is not None:
                    users.drop(key)
                    users.set_threads(nmax)
        shape = "%dx%d%s @ %dx%d%s" % (m, k, "(T)" if a_t else "", k, n, "(T)" if b_t else "")
        rec = {"shape": shape, "role": role, "flops": 2.0 * m * n * k,
               "fastdense_1_s": median(fd[1]), "fastdense_n_s": median(fd[nmax]),
               "numpy_1_s": median(npy[1]), "numpy_n_s": median(npy[nmax])}
        rec["fastdense_scaling"] = rec["fastdense_1_s"] / rec["fastdense_n_s"]
        rec["numpy_scaling"] = (rec["numpy_1_s"] / rec["numpy_n_s"]) if have_tpc else None
        # from each side's fastest samples: less sensitive to other load
        rec["fastdense_scaling_best"] = min(fd[1]) / min(fd[nmax])
        rec["numpy_scaling_best"] = (min(npy[1]) / min(npy[nmax])) if have_tpc else None
        rows.append(rec)
        log("  scaling %-32s fastdense %.2fx" % (shape, rec["fastdense_scaling"]))
    # the step's GEMM work: all six products, and the five of the seed
    # network (its first layer computes no grad x)
    def total(key, part):
        return sum(r[key] for r in rows[:part])
    step = {}
    for name, part in (("all six products", 6), ("the seed step's five", 5)):
        fd1, fdn = total("fastdense_1_s", part), total("fastdense_n_s", part)
        step[name] = {"fastdense_1_s": fd1, "fastdense_n_s": fdn, "fastdense_scaling": fd1 / fdn}
        if have_tpc:
            n1, nn = total("numpy_1_s", part), total("numpy_n_s", part)
            step[name].update({"numpy_1_s": n1, "numpy_n_s": nn, "numpy_scaling": n1 / nn})
    return {"threads": nmax, "products": rows, "step": step, "numpy_pinned": have_tpc,
            "numpy_where": "worker" if users is not None else "this process"}


# ---------------------------------------------------------------------------
# MNIST training and predict
# ---------------------------------------------------------------------------

def training_contenders(use_torch, users, sparse_rows):
    """The contender names of the training section, and the skipped ones with why."""
    skipped = {}
    names = []
    if _config.c_available():
        names.append(C.FASTDENSE_C)
        if sparse_rows:
            names.append(C.FASTDENSE_C_DENSE)
    else:
        skipped[C.FASTDENSE_C] = "C extension not loaded: %s" % _config.c_error()
    if not sparse_rows:
        skipped["%s vs %s" % (C.FASTDENSE_C, C.FASTDENSE_C_DENSE)] = C.SPARSE_MODES_MISSING
    names += [C.FASTDENSE_NUMPY, C.SCRIPT]
    torch, why = C.torch_module(use_torch)
    if torch is None:
        skipped[C.TORCH] = why
    else:
        names.append(C.TORCH)
    names.append(C.FLOOR)
    if users is not None:      # NumPy as the environment sets it, beside each as users have it
        out = []
        for n in names:
            out.append(n)
            if n in C.BLAS_CONTENDERS:
                out.append(n + ENV)
        names = out
    return names, skipped


def run_training(threads, epochs, train_repeats, seed, data, use_torch, predict_repeats,
                 min_time, log, settle=0.0, users=None, mnist_spec=None, sparse_rows=False):
    """Interleaved epochs of every contender; then predict on the test set.

    Each repeat trains fresh models of every contender, the order of the
    contenders rotating every epoch.  The worker's contenders (``users``)
    load the same rows (``mnist_spec``) and time their epochs themselves.
    """
    x, y, xt, yt = data
    names, skipped = training_contenders(use_torch, users, sparse_rows)
    remote = {n for n in names if users is not None and n in C.BLAS_CONTENDERS}

    def make():
        slots = {}
        for n in names:
            if n in remote:
                slots[n] = C.RemoteMnistSlot(users, n, seed, threads, mnist_spec)
            else:
                slots[n] = C.MnistSlot(n, seed, threads, data=data)
        return slots

    def close(slots):
        for s in slots.values():
            s.close()

    # warm-up: a short fit of each contender on 2,048 images, and one floor epoch
    slots = make()
    try:
        for name, slot in slots.items():
            if C.base_name(name) == C.FLOOR:
                slot.timed_epoch()
            else:
                slot.warm(min(2048, len(x)))
    finally:
        close(slots)
    times = {name: [] for name in names}
    slots = None
    try:
        for rep in range(train_repeats):
            if slots is not None:
                close(slots)
            slots = make()
            for e in range(epochs):
                k = (rep * epochs + e) % len(names)
                for name in names[k:] + names[:k]:
                    if settle:      # the previous contender's pools go idle first
                        time.sleep(settle)
                    times[name].append(slots[name].timed_epoch())
            log("  training repeat %d/%d: %s" % (rep + 1, train_repeats, ", ".join(
                "%s %.2fs" % (n, ts[-1]) for n, ts in times.items())))
        contenders = {}
        for name, ts in times.items():
            rec = {"seconds_per_epoch": median(ts), "epoch_times": ts,
                   "where": "worker" if name in remote else "this process"}
            if slots[name].has_predict:
                rec["test_accuracy"] = slots[name].accuracy()
            contenders[name] = rec
        base = contenders.get(C.FASTDENSE_C, {}).get("seconds_per_epoch")
        for name, rec in contenders.items():
            if base:
                rec["vs_fastdense_c"] = rec["seconds_per_epoch"] / base
        training = {"threads": threads, "epochs": epochs, "repeats": train_repeats,
                    "samples": len(x), "batch_size": 128, "contenders": contenders,
                    "skipped": skipped}

        # predict on the test set with the trained models, interleaved
        fns = {name: slot.predict_sampler() for name, slot in slots.items()
               if slot.has_predict}
        s = interleaved(fns, repeats=predict_repeats, min_time=min_time, warmup=1,
                        settle=settle)   # as for the epochs: the other pools go idle
    finally:
        if slots is not None:
            close(slots)
    pred = {name: {"seconds": median(v), "samples": v,
                   "where": "worker" if name in remote else "this process"}
            for name, v in s.items()}
    if C.FASTDENSE_C in pred:
        for name, rec in pred.items():
            rec["vs_fastdense_c"] = rec["seconds"] / pred[C.FASTDENSE_C]["seconds"]
    predict = {"threads": threads, "rows": len(xt), "contenders": pred}
    return training, predict


# ---------------------------------------------------------------------------
# IMDB: the book's network on bag-of-words input
# ---------------------------------------------------------------------------

def imdb_contenders(sparse_fit):
    """(names, skipped): fastdense's row only where fit takes scipy.sparse input."""
    ok, why = sparse_fit
    names, skipped = [], {}
    if ok and _config.c_available():
        names.append(C.IMDB_FASTDENSE)
    elif ok:
        skipped[C.IMDB_FASTDENSE] = "C extension not loaded: %s" % _config.c_error()
    else:
        skipped[C.IMDB_FASTDENSE] = why
    names.append(C.IMDB_NUMPY)
    return names, skipped


class ImdbRun:
    """The IMDB section's workers, one per contender, kept across thread counts
    (each process's peak memory is its contender's own)."""

    def __init__(self, names, rows, seed, remove, log):
        from .worker import Worker, WorkerError
        self.workers, self.keys, self.failed = {}, {}, {}
        self.rows, self.seed = rows, seed
        for name in names:
            log("  IMDB: starting %s's process (data: %s reviews)" % (
                name, "25,000 + 25,000" if rows is None else "%d + %d" % (rows, rows)))
            w = None
            try:
                w = Worker(label=name, remove=remove)
                self.keys[name] = w.make("imdb", name, seed, rows)
                self.workers[name] = w
            except WorkerError as exc:
                self.failed[name] = _worker_failure(exc)
                if w is not None:
                    w.close()

    def close(self):
        for w in self.workers.values():
            w.close()
        self.workers = {}


def _worker_failure(exc):
    text = str(exc).strip().splitlines()
    return "failed in its process: %s" % (text[-1] if text else exc)


def run_imdb(run, threads, epochs, log, settle=0.0):
    """Epochs of each IMDB contender, interleaved across their processes, then
    held-out accuracy and each process's memory."""
    from .worker import WorkerError
    names = list(run.workers)
    times = {n: [] for n in names}
    failed = dict(run.failed)
    for n in names:
        try:
            run.workers[n].call(run.keys[n], "reset", run.seed)
            run.workers[n].call(run.keys[n], "warm", 2048)
        except WorkerError as exc:
            failed[n] = _worker_failure(exc)
    names = [n for n in names if n not in failed]
    for e in range(epochs):
        k = e % max(1, len(names))
        for n in names[k:] + names[:k]:
            if n in failed:
                continue
            if settle:
                time.sleep(settle)
            try:
                times[n].append(run.workers[n].call(run.keys[n], "timed_epoch"))
            except WorkerError as exc:
                failed[n] = _worker_failure(exc)
        log("  IMDB epoch %d/%d at %d thread%s: %s" % (
            e + 1, epochs, threads, "" if threads == 1 else "s",
            ", ".join("%s %.2fs" % (n, times[n][-1]) for n in names
                      if n not in failed and times[n])))
    contenders = {}
    for n in names:
        if n in failed:
            continue
        w, key = run.workers[n], run.keys[n]
        try:
            acc = w.call(key, "accuracy")
            rep = w.call(key, "report")
        except WorkerError as exc:
            failed[n] = _worker_failure(exc)
            continue
        contenders[n] = {"seconds_per_epoch": median(times[n]), "epoch_times": times[n],
                         "test_accuracy": acc, "input_bytes": rep["input_bytes"],
                         "baseline_rss_bytes": rep["baseline"]["rss_bytes"],
                         "rss_after_data_bytes": rep["after_data"]["rss_bytes"],
                         "peak_rss_bytes": rep["now"]["peak_rss_bytes"],
                         "data": rep["data"],
                         "blas_env_removed": w.removed}
    base = contenders.get(C.IMDB_FASTDENSE, {}).get("seconds_per_epoch")
    if base:
        for rec in contenders.values():
            rec["vs_fastdense"] = rec["seconds_per_epoch"] / base
    return {"threads": threads, "epochs": epochs, "batch_size": 512,
            "contenders": contenders, "skipped": failed}
