/*
 * fd_internal.h -- helpers shared by the kernel files (not public API).
 *
 * The elementwise kernels split an m x n matrix into tasks of at most
 * FD_CHUNK consecutive columns of one row; tasks are numbered row-major and
 * handed out by a static OpenMP schedule, so the split is the same on every
 * call (results never depend on timing) and both a tall matrix and a single
 * long row (the flat optimizer vector) keep every thread busy.
 */
#ifndef FD_INTERNAL_H
#define FD_INTERNAL_H

#include "fastdense.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define FD_CHUNK 8192
#define FD_MAX_THREADS 256

/* Threads worth using for `work` elements: one below the threshold. */
static inline int fd_threads_for(fd_index work, int nthreads)
{
    if (nthreads < 1 || work < FD_PAR_MIN_ELEMS)
        return 1;
    if (nthreads > FD_MAX_THREADS)
        nthreads = FD_MAX_THREADS;
    return nthreads;
}

/* When every operand is contiguous row-major (cs == 1, rs == n), the matrix
 * is one long row: fewer, longer tasks and unit-stride loops. */
static inline int fd_rowmajor(fd_index n, fd_index rs, fd_index cs, fd_index m)
{
    return cs == 1 && (rs == n || m <= 1);
}

static inline fd_index fd_min(fd_index a, fd_index b) { return a < b ? a : b; }

#endif
