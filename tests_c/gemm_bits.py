"""Fingerprint of fd_sgemm's output bits over many problems, for checking that
a refactoring of src_c/gemm*.c changes no result, bit for bit.

    python tests_c/gemm_bits.py > /tmp/before.txt     # on the old build
    python tests_c/gemm_bits.py > /tmp/after.txt      # on the new build
    diff /tmp/before.txt /tmp/after.txt               # must be empty

Every line is one (SIMD level, threads, shape, layouts, epilogue, alignment)
case and the sha256 of C's bytes.  The shapes cover every path of fd_sgemm:
the direct triple loop (m*n*k <= 4096), the dot path (n <= 24, C-order A),
the transposed orientation (n = 10, Fortran C), 8x32 and 12x32 tiles, B read
in place (aligned rows, or m <= MR) and packed, several K blocks (k > KC),
a_rows / a_cols gathers, and the training and predict shapes.  The operands
are fixed by a seed, so two builds see the same inputs.
"""
import hashlib
import os
import sys

import numpy as np

import fastdense._ckernels as K

LEVELS = ["generic", "avx2", "avx512"]

SHAPES = [  # m, n, k
    (1, 1, 1), (3, 5, 7), (16, 16, 16), (17, 9, 33), (128, 10, 512),
    (512, 10, 128), (128, 512, 10), (128, 512, 784), (784, 512, 128),
    (128, 784, 512), (100, 24, 300), (100, 25, 300), (13, 40, 1001),
    (300, 3, 2000), (9, 100, 70), (2000, 64, 96), (64, 20, 6000),
]


def aligned(shape, order, offset_floats, rng=None):
    """A float32 array of `shape` starting offset_floats past a 64-byte line
    (random normal values from rng, or zeros)."""
    n = int(np.prod(shape))
    buf = np.zeros(n + 32, np.float32)
    start = (-buf.ctypes.data % 64) // 4 + offset_floats
    flat = buf[start:start + n]
    if rng is not None:
        flat[:] = rng.standard_normal(n).astype(np.float32)
    return flat.reshape(shape, order=order)


def cases():
    for m, n, k in SHAPES:
        for la in "CF":
            for lb in "CF":
                for lc in "CF":
                    for off in (0, 4):
                        yield m, n, k, la, lb, lc, off


def main():
    levels = LEVELS[:LEVELS.index(K.simd_name()) + 1]
    for level in levels:
        os.environ["FASTDENSE_SIMD"] = level
        assert K.simd_name() == level
        for nt in (1, 2):
            for m, n, k, la, lb, lc, off in cases():
                rng = np.random.default_rng(m * 1000003 + n * 1009 + k)
                a = aligned((m, k), la, off, rng)
                b = aligned((k, n), lb, off, rng)
                c = aligned((m, n), lc, off, rng)
                bias = rng.standard_normal(n).astype(np.float32)
                h = hashlib.sha256()
                for alpha, beta, bb, relu in ((1.0, 0.0, None, False),
                                              (0.5, 1.5, bias, True)):
                    cc = aligned((m, n), lc, off)
                    cc[...] = c
                    K.sgemm(a, b, cc, alpha=alpha, beta=beta, bias=bb,
                            relu=relu, nthreads=nt)
                    h.update(np.ascontiguousarray(cc).tobytes())
                # gathers: a shuffled batch, and the transposed batch
                rows = rng.permutation(m).astype(np.int64)
                cg = np.empty((m, n), np.float32)
                K.sgemm(a, b, cg, a_rows=rows, nthreads=nt)
                h.update(cg.tobytes())
                if m == k:
                    cols = rng.permutation(k).astype(np.int64)
                    K.sgemm(a, b, cg, a_cols=cols, nthreads=nt)
                    h.update(cg.tobytes())
                print(level, nt, "%dx%dx%d" % (m, n, k), la + lb + lc, off,
                      h.hexdigest()[:16])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
