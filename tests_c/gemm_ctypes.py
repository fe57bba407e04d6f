"""ctypes binding of fd_sgemm for the development harness (not the package).

Build the library first, e.g.
  gcc -O3 -fPIC -mavx2 -mfma -DFD_HAVE_AVX2=1 -DFD_HAVE_AVX512=1 -c src_c/gemm_avx2.c -o /tmp/g_avx2.o
  gcc -O3 -fPIC -mavx512f -mavx512vl -mavx512dq -mfma -DFD_HAVE_AVX2=1 -DFD_HAVE_AVX512=1 \
      -c src_c/gemm_avx512.c -o /tmp/g_avx512.o
  gcc -O3 -fPIC -shared -fopenmp -DFD_HAVE_AVX2=1 -DFD_HAVE_AVX512=1 src_c/gemm.c \
      src_c/gemm_pack.c src_c/gemm_dot.c src_c/gemm_generic.c src_c/cpu.c \
      /tmp/g_avx2.o /tmp/g_avx512.o -o /tmp/libfdgemm.so
and point FD_GEMM_LIB at it (default /tmp/libfdgemm.so).
"""
import ctypes
import os

import numpy as np

LIB = ctypes.CDLL(os.environ.get("FD_GEMM_LIB", "/tmp/libfdgemm.so"))
_I = ctypes.c_ssize_t
_P = ctypes.c_void_p
LIB.fd_sgemm.restype = ctypes.c_int
LIB.fd_sgemm.argtypes = [_I, _I, _I, ctypes.c_float, _P, _I, _I, _P, _P,
                         _P, _I, _I, ctypes.c_float, _P, _I, _I, _P, _I,
                         ctypes.c_int, ctypes.c_int]
LIB.fd_simd_name.restype = ctypes.c_char_p


def _es(x, ax):
    return x.strides[ax] // x.itemsize


def sgemm_args(a, b, c, alpha=1.0, beta=0.0, bias=None, relu=False,
               nthreads=1, a_rows=None, a_cols=None):
    """The argument tuple of fd_sgemm, for timing loops without wrapper cost."""
    m = c.shape[0] if a_rows is None else len(a_rows)
    k, n = b.shape
    ptr = lambda x: None if x is None else x.ctypes.data
    return (m, n, k, alpha, ptr(a), _es(a, 0), _es(a, 1), ptr(a_rows),
            ptr(a_cols), ptr(b), _es(b, 0), _es(b, 1), beta, ptr(c),
            _es(c, 0), _es(c, 1), ptr(bias),
            0 if bias is None else _es(bias, 0), int(relu), nthreads)


def sgemm(a, b, c, alpha=1.0, beta=0.0, bias=None, relu=False, nthreads=1,
          a_rows=None, a_cols=None):
    """c = alpha * A @ b + beta * c (+bias)(relu); A = a[a_rows][:, a_cols]."""
    m = c.shape[0] if a_rows is None else len(a_rows)
    k = b.shape[0]
    n = b.shape[1]
    assert c.shape == (m, n)
    ptr = lambda x: None if x is None else x.ctypes.data
    return LIB.fd_sgemm(m, n, k, alpha, ptr(a), _es(a, 0), _es(a, 1),
                        ptr(a_rows), ptr(a_cols), ptr(b), _es(b, 0), _es(b, 1),
                        beta, ptr(c), _es(c, 0), _es(c, 1), ptr(bias),
                        0 if bias is None else _es(bias, 0), int(relu),
                        nthreads)
