"""fastdense.ops.dot against np.dot on plain NumPy arrays, interleaved in one
process: the drop-in promise (``ops.dot`` >= 0.95x ``np.dot`` at every thread
count and SIMD level) measured as a user would see it.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dot_vs_numpy.py
    python benchmarks/dot_vs_numpy.py --levels avx512 --threads 1 2 --json out.json

Run NumPy as users have it: an environment that sets OPENBLAS_CORETYPE (this
project's CI machines set Haswell) measures a different OpenBLAS kernel
family; the header names the family threadpoolctl reports, and says so.

How it measures.  The operands are NumPy-allocated float32 arrays (so not
64-byte aligned: NumPy's buffers usually start 16 bytes past a cache line),
stored in C order or in Fortran order, with the transposed operands of the
training step as ``.T`` views.  For each SIMD level (FASTDENSE_SIMD, read by
the C kernels on every call), thread count (threadpoolctl for NumPy's BLAS,
fastdense.set_num_threads for ours) and case, the two sides take turns in
rounds (the order swapped every round): each turn calls its side untimed for
5 ms, then takes samples for 10 ms, a sample being enough back-to-back calls
to last ~0.2 ms (one call when it is longer).  The untimed start is there
because the two libraries' idle thread pools spin for milliseconds after a
call and, on 2 cores, hold the core the other one's worker needs; with
--alternate the samples alternate one by one without it, which shows that
interference itself.  The table gives the median time per call of each, the
ratio np.dot time / ops.dot time (> 1: ops.dot is faster), the same ratio
of the best samples (what an idle machine gives; 2-thread medians on a
shared machine include the waits for a scheduler tick) and the route
``ops._gemm_route`` took.  On a shared machine the ratio of medians is what
means something, not the absolute times.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

try:
    import threadpoolctl
except ImportError:  # pragma: no cover - the [test] extra brings it
    sys.exit("dot_vs_numpy needs threadpoolctl (pip install threadpoolctl)")

import fastdense
from fastdense import ops

# name, stored shape of a, a transposed?, stored shape of b, b transposed?
CASES = [
    ("x@W1 128x784 @ 784x512", (128, 784), False, (784, 512), False),
    ("dW1 (128x784)^T @ 128x512", (128, 784), True, (128, 512), False),
    ("dx 128x512 @ (784x512)^T", (128, 512), False, (784, 512), True),
    ("h@W2 128x512 @ 512x10", (128, 512), False, (512, 10), False),
    ("dW2 (128x512)^T @ 128x10", (128, 512), True, (128, 10), False),
    ("dh 128x10 @ (512x10)^T", (128, 10), False, (512, 10), True),
    ("predict 10000x784 @ 784x512", (10000, 784), False, (784, 512), False),
]
LEVELS = ["avx512", "avx2", "generic"]


def operands(case, order, rng):
    _, sa, ta, sb, tb = case
    a = rng.standard_normal(sa, dtype=np.float32)
    b = rng.standard_normal(sb, dtype=np.float32)
    if order == "F":
        a, b = np.asfortranarray(a), np.asfortranarray(b)
    return (a.T if ta else a), (b.T if tb else b)


def timed(f, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t0) / reps


def block(f, reps, settle, length):
    """Samples (each the mean of `reps` back-to-back calls) of f over `length`
    seconds, after `settle` seconds of untimed calls (at least one)."""
    t0 = time.perf_counter()
    f()
    while time.perf_counter() - t0 < settle:
        f()
    out, t1 = [], time.perf_counter()
    while len(out) < 3 or time.perf_counter() - t1 < length:
        out.append(timed(f, reps))
    return out


def measure(a, b, nt, rounds, alternate=False, sample=2e-4, settle=5e-3,
            length=1e-2):
    """Median time per call of ops.dot and of np.dot.

    Default: `rounds` rounds of one block per side, the order swapped every
    round; a block settles for `settle` s, then samples for `length` s.  The
    settling is there because the two thread pools get in each other's way
    right after a switch: libgomp's idle workers spin for a few ms after a
    parallel region and OpenBLAS's for longer, and on 2 cores a spinning
    worker of one library holds the core the other's worker needs (calls
    alternating one by one at 2 threads took ~4 ms each, both libraries,
    against ~0.3 ms in blocks).  alternate=True measures exactly that:
    samples alternate side after side, with no settling."""
    ours = lambda: ops.dot(a, b)  # noqa: E731
    theirs = lambda: np.dot(a, b)  # noqa: E731
    with threadpoolctl.threadpool_limits(limits=nt, user_api="blas"):
        fastdense.set_num_threads(nt)
        for f in (ours, theirs, ours, theirs):      # warm up both
            f()
        one = max(timed(ours, 3), timed(theirs, 3))
        reps = max(1, min(2000, int(sample / max(one, 1e-7))))
        t_ours, t_np = [], []
        pair = ((ours, t_ours), (theirs, t_np))
        for r in range(rounds):
            for f, acc in (pair if r % 2 == 0 else pair[::-1]):
                if alternate:
                    acc.append(timed(f, reps))
                else:
                    acc.extend(block(f, reps, settle, length))
    return (statistics.median(t_ours), statistics.median(t_np),
            min(t_ours), min(t_np))


def blas_info():
    info = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    if not info:
        return "no BLAS found by threadpoolctl"
    i = info[0]
    return "%s %s, kernel family %s" % (i.get("internal_api"), i.get("version"),
                                        i.get("architecture"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", nargs="+", default=None, choices=LEVELS,
                   help="SIMD levels (default: every one this CPU runs)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--orders", nargs="+", default=["C", "F"], choices=["C", "F"])
    p.add_argument("--rounds", type=int, default=15,
                   help="rounds (one block per side each; samples with --alternate)")
    p.add_argument("--alternate", action="store_true",
                   help="alternate single samples, no settling (the thread pools' worst case)")
    p.add_argument("--cases", nargs="+", type=int, default=None,
                   help="indices into the case list (default: all)")
    p.add_argument("--json", help="write the rows here as well")
    args = p.parse_args(argv)

    if fastdense.backend() != "c":
        sys.exit("the C backend is not available: nothing to compare")
    from fastdense import _config
    top = _config.simd_level()
    levels = args.levels or LEVELS[LEVELS.index(top):]
    cases = [CASES[i] for i in args.cases] if args.cases else CASES
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    print("fastdense %s, NumPy %s, %s; CPU %s, %d usable cores" % (
        fastdense.__version__, np.__version__, blas_info(), platform.processor()
        or platform.machine(), len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity") else os.cpu_count()))
    if coretype:
        print("NOTE: OPENBLAS_CORETYPE=%s is set: NumPy runs that kernel family, not"
              " the one users get (unset it to measure as users have it)" % coretype)
    print("ratio = np.dot time / ops.dot time (>= 0.95 is the target); medians over %d"
          " interleaved %s" % (args.rounds, "single samples per side (--alternate)"
                               if args.alternate else "rounds of 10 ms blocks per side"))
    rng = np.random.default_rng(0)
    rows = []
    old_simd = os.environ.get("FASTDENSE_SIMD")
    try:
        for level in levels:
            os.environ["FASTDENSE_SIMD"] = level
            for nt in args.threads:
                print("\nSIMD %s, %d thread%s" % (level, nt, "s" if nt > 1 else ""))
                print("  %-30s %-5s %-5s %11s %11s %7s %7s" % (
                    "case", "order", "route", "ops.dot", "np.dot", "ratio", "best"))
                for case in cases:
                    for order in args.orders:
                        a, b = operands(case, order, rng)
                        m, k = a.shape
                        n = b.shape[1]
                        route = ops._gemm_route(m, n, k, nt, level, a.strides[1] == a.itemsize)
                        t_ours, t_np, b_ours, b_np = measure(a, b, nt, args.rounds,
                                                             args.alternate)
                        ratio = t_np / t_ours
                        rows.append(dict(level=level, threads=nt, case=case[0],
                                         order=order, route=route, ops_dot_s=t_ours,
                                         np_dot_s=t_np, ratio=ratio, ops_dot_best_s=b_ours,
                                         np_dot_best_s=b_np, best_ratio=b_np / b_ours))
                        print("  %-30s %-5s %-5s %9.1f us %8.1f us %6.2fx %6.2fx%s" % (
                            case[0], order, route, t_ours * 1e6, t_np * 1e6, ratio,
                            b_np / b_ours, "" if ratio >= 0.95 else "  <"), flush=True)
    finally:
        if old_simd is None:
            os.environ.pop("FASTDENSE_SIMD", None)
        else:
            os.environ["FASTDENSE_SIMD"] = old_simd
    worst = min(rows, key=lambda r: r["ratio"])
    print("\nworst: %.2fx (%s, %s, %d thread(s), %s order)" % (
        worst["ratio"], worst["case"], worst["level"], worst["threads"], worst["order"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(blas=blas_info(), coretype=coretype, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
