"""Timings of the dropout and regularizer kernels (not a test).

    python tests_c/bench_dropout.py [repeats]

All contenders are interleaved in one process, round-robin, many times; the
table gives medians (and the ratio to one relu pass over the same array, the
cost of one memory pass).  NumPy is measured as users write dropout: a
uniform float32 draw, a compare and a multiply.  Run with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` for NumPy as users have it.
"""
import os
import sys
import time

import numpy as np

import fastdense._ckernels as k
from fastdense import reference as ref


def median_us(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e6 * float(np.median(ts))


def interleaved(cases, rounds, per_round):
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].append(median_us(fn, per_round))
    return {name: float(np.median(v)) for name, v in times.items()}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rng = np.random.default_rng(0)
    print("simd=%s, cores=%d" % (k.simd_name(), len(os.sched_getaffinity(0))))
    for shape in [(128, 512), (64, 512), (32, 512), (1000, 1000)]:
        x = rng.standard_normal(shape).astype(np.float32)
        out = np.empty_like(x)
        g = rng.standard_normal(shape).astype(np.float32)
        y = np.maximum(x, 0)
        bg = np.empty(shape[1], np.float32)
        step = [0]
        nprng = np.random.default_rng(1)

        def c_fwd(nt):
            def f():
                step[0] += 1
                k.dropout_forward_f32(x, out, 0.5, 42, step[0], nthreads=nt)
            return f

        def numpy_dropout():
            keep = nprng.random(shape, dtype=np.float32) >= np.float32(0.5)
            np.multiply(x, keep, out=out)
            np.multiply(out, np.float32(2), out=out)

        cases = {
            "relu pass (1 thr)": lambda: k.relu_f32(x, out, nthreads=1),
            "C dropout fwd (1 thr)": c_fwd(1),
            "C dropout fwd (2 thr)": c_fwd(2),
            "C relu_dropout bwd+bias (1 thr)":
                lambda: k.relu_dropout_backward_f32(g, y, out, 0.5, bias_grad=bg, nthreads=1),
            "C relu_backward+bias (1 thr)":
                lambda: k.relu_backward_f32(g, y, out, bias_grad=bg, nthreads=1),
            "NumPy dropout (rng.random)": numpy_dropout,
            "NumPy twin dropout fwd": lambda: ref.dropout_forward_f32(x, out, 0.5, 42, 7),
        }
        res = interleaved(cases, rounds, 20 if shape[0] <= 128 else 3)
        base = res["relu pass (1 thr)"]
        print("\n%s (%d elements)" % (shape, x.size))
        for name, t in res.items():
            print("  %-34s %9.2f us  %6.2fx a relu pass" % (name, t, t / base))

    # the regularizer on the seed network's weights
    w1 = rng.standard_normal((784, 512)).astype(np.float32) * 0.05
    g1 = np.zeros_like(w1)
    l1, l2 = 0.01, 0.01

    def numpy_reg():
        pen = l1 * np.abs(w1).sum() + l2 * np.square(w1).sum()
        g1[...] += np.float32(l1) * np.sign(w1) + np.float32(2 * l2) * w1
        return pen

    cases = {
        "C l1l2 penalty+grad (1 thr)": lambda: k.l1l2_penalty_grad_f32(w1, g1, l1, l2, 1),
        "C l1l2 penalty+grad (2 thr)": lambda: k.l1l2_penalty_grad_f32(w1, g1, l1, l2, 2),
        "C l1l2 penalty only (1 thr)": lambda: k.l1l2_penalty_grad_f32(w1, None, l1, l2, 1),
        "C rmsprop-like pass: add (1 thr)": lambda: k.add_f32(w1, g1, g1, nthreads=1),
        "NumPy penalty + grad": numpy_reg,
    }
    res = interleaved(cases, rounds, 5)
    print("\n(784, 512) weights, l1 = l2 = 0.01")
    for name, t in res.items():
        print("  %-34s %9.2f us" % (name, t))


if __name__ == "__main__":
    main()
