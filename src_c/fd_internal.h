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

/* This thread's number and the team size inside a parallel region (0 and 1
 * outside one, or without OpenMP). */
static inline int fd_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int fd_team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Runs CALL once per task of an m x n elementwise kernel, with i (the row)
 * and [j0, j1) (the columns) in scope; returns FD_EINVAL for negative sizes
 * and FD_OK at once for empty ones.  Tasks are FD_CHUNK columns of one row,
 * numbered row-major, statically scheduled. */
#define FD_FOR_TASKS(m, n, nthreads, CALL)                                    \
    do {                                                                      \
        if ((m) < 0 || (n) < 0)                                               \
            return FD_EINVAL;                                                 \
        if ((m) == 0 || (n) == 0)                                             \
            return FD_OK;                                                     \
        const fd_index fd_per_row_ = ((n) + FD_CHUNK - 1) / FD_CHUNK;         \
        const fd_index fd_tasks_ = (m) * fd_per_row_;                         \
        const int fd_nt_ = fd_threads_for((m) * (n), (nthreads));             \
        (void)fd_nt_;                                                         \
        _Pragma("omp parallel for num_threads(fd_nt_) schedule(static) if (fd_nt_ > 1)") \
        for (fd_index t_ = 0; t_ < fd_tasks_; t_++) {                         \
            const fd_index i = t_ / fd_per_row_;                              \
            const fd_index j0 = (t_ % fd_per_row_) * FD_CHUNK;                \
            const fd_index j1 = fd_min((n), j0 + FD_CHUNK);                   \
            CALL;                                                             \
        }                                                                     \
    } while (0)

#endif
