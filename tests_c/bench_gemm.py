"""fd_sgemm vs np.dot (OpenBLAS) GFLOP/s at 1 and 2 threads, one process.

  python3 tests_c/bench_gemm.py [--reps N]   # FD_GEMM_LIB=/tmp/libfdgemm.so
The two libraries run in alternating blocks (a few untimed warm-up calls,
then timed calls, then a short sleep so the other library's spinning worker
threads go idle) and medians are reported: strictly alternating single calls
make OpenBLAS's and libgomp's spin-waiting threads fight over the 2 cores.
"""
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(__file__))
from gemm_ctypes import LIB, sgemm_args  # noqa: E402

rng = np.random.default_rng(0)
f32 = lambda *s: rng.standard_normal(s).astype(np.float32)


def cases(order):
    lay = (lambda x: np.asfortranarray(x)) if order == "F" else (lambda x: x)
    X = f32(128, 784); W1 = f32(784, 512); dZ = f32(128, 512); H = f32(128, 512)
    W2 = f32(512, 10); dZ2 = f32(128, 10); Xt = f32(10000, 784)
    return [
        ("fwd 128x784@784x512", lay(X), lay(W1)),
        ("dW1 (128x784)^T@128x512", lay(X).T, lay(dZ)),
        ("fwd2 128x512@512x10", lay(H), lay(W2)),
        ("dW2 (128x512)^T@128x10", lay(H).T, lay(dZ2)),
        ("dH 128x10@(512x10)^T", lay(dZ2), lay(W2).T),
        ("predict 10000x784@784x512", lay(Xt), lay(W1)),
    ]


def bench(a, b, nt, reps):
    m, k = a.shape
    n = b.shape[1]
    c = np.empty((m, n), np.float32)
    tf, tn = [], []
    blk = max(1, min(20, reps // 5))
    args = sgemm_args(a, b, c, nthreads=nt)  # a ctypes call costs ~1.5 us
    f = LIB.fd_sgemm
    with threadpool_limits(nt):
        for _ in range(max(1, reps // blk)):
            for fn, ts in ((lambda: f(*args), tf),
                           (lambda: np.dot(a, b), tn)):
                for _ in range(3):
                    fn()
                for _ in range(blk):
                    t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
                time.sleep(0.01)
    fl = 2.0 * m * n * k
    stat = np.min if STAT == "min" else np.median
    return fl / stat(tf) / 1e9, fl / stat(tn) / 1e9


# --stat min: best call of each library (on a box shared with other jobs the
# median of a 2-thread run mostly measures the other jobs)
STAT = sys.argv[sys.argv.index("--stat") + 1] if "--stat" in sys.argv else "median"


def main():
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 200
    print("stat:", STAT, " simd:", LIB.fd_simd_name().decode(), " OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s" %
          (os.environ.get("OMP_WAIT_POLICY"), os.environ.get("GOMP_SPINCOUNT")))
    print("%-28s %3s %2s %8s %8s %6s" % ("shape", "ord", "nt", "fd", "numpy", "ratio"))
    one = {}
    for order in ("C", "F"):
        for name, a, b in cases(order):
            r = reps if "predict" not in name else max(5, reps // 20)
            for nt in (1, 2):
                g, gn = bench(a, b, nt, r)
                extra = ""
                if nt == 1:
                    one[name, order] = g
                else:
                    extra = "  2t/1t %.2f" % (g / one[name, order])
                print("%-28s %3s %2d %8.1f %8.1f %6.2f%s" % (name, order, nt, g, gn, g / gn, extra),
                      flush=True)


if __name__ == "__main__":
    main()
