"""ops.sparse_dot against scipy's ``a @ b`` at the seed batch shape.

A 128 x 784 CSR at MNIST density (real MNIST rows when $FASTDENSE_DATA has
them, else random positions at 0.19) @ a 784 x 512 float32 matrix, for
csr_matrix / csc_matrix / coo_matrix, at 1 and 2 threads; the two calls are
interleaved sample by sample; prints the minimum and median of each and
their ratio.

    python benchmarks/sparse_dot_vs_scipy.py [--samples 201]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastdense                      # noqa: E402
from fastdense import ops             # noqa: E402


def batch(rng):
    try:
        from fastdense.datasets import mnist
        (x, _), _ = mnist.load_data()
        x = x.reshape(len(x), -1)[rng.permutation(len(x))[:128]] / np.float32(255)
        return x.astype(np.float32), "MNIST rows"
    except Exception:
        x = np.zeros((128, 784), np.float32)
        mask = rng.random(x.shape) < 0.19
        x[mask] = rng.random(int(mask.sum()))
        return x, "random rows at density 0.19"


def main(argv=None):
    import scipy
    import scipy.sparse as sp
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=201)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x, what = batch(rng)
    b = rng.standard_normal((784, 512)).astype(np.float32)
    print("# sparse_dot vs scipy %s a @ b: %s (density %.3f) @ 784x512 float32, "
          "%d samples, load %s" % (scipy.__version__, what, np.count_nonzero(x) / x.size,
                                   args.samples, os.getloadavg()))
    clock = time.perf_counter
    for fmt in ("csr", "csc", "coo"):
        a = getattr(sp, fmt + "_matrix")(x)
        for nt in (1, 2):
            fastdense.set_num_threads(nt)
            ours, theirs = [], []
            for s in range(args.samples + 3):
                for which in ((0, 1) if s % 2 else (1, 0)):
                    t0 = clock()
                    if which == 0:
                        ops.sparse_dot(a, b)
                    else:
                        a @ b
                    dt = clock() - t0
                    if s >= 3:
                        (ours if which == 0 else theirs).append(dt)
            ours, theirs = np.array(ours) * 1e6, np.array(theirs) * 1e6
            print("%s_matrix threads %d: sparse_dot min %7.1f us median %7.1f | scipy "
                  "min %7.1f median %7.1f | speed-up %.1fx (medians %.1fx)" % (
                      fmt, nt, ours.min(), np.median(ours), theirs.min(),
                      np.median(theirs), theirs.min() / ours.min(),
                      np.median(theirs) / np.median(ours)))


if __name__ == "__main__":
    main()
