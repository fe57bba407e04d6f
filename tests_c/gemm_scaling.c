/*
 * gemm_scaling.c -- fd_sgemm at 1 thread against 2 threads on the six
 * products of a training step, timed in C (no Python call in the loop), so
 * that what is measured is the kernel and its OpenMP fork/join alone.
 *
 *   S=src_c; F="-O3 -std=c99 -ffp-contract=off -fopenmp -DFD_HAVE_AVX2=1 -DFD_HAVE_AVX512=1 -I$S"
 *   gcc $F -mavx2 -mfma -c $S/gemm_avx2.c -o /tmp/g2.o
 *   gcc $F -mavx512f -mavx512vl -mavx512dq -mfma -c $S/gemm_avx512.c -o /tmp/g5.o
 *   gcc $F tests_c/gemm_scaling.c $S/gemm.c $S/gemm_pack.c $S/gemm_dot.c \
 *       $S/gemm_generic.c $S/cpu.c /tmp/g2.o /tmp/g5.o -o /tmp/gemm_scaling
 *   /tmp/gemm_scaling [calls]          # default 3000 calls per side and shape
 *
 * Operands are 64-byte aligned, as the model allocates them.  Calls run in
 * alternating blocks of 10 (1 thread, then 2), so both sides see the same
 * machine state; medians are reported, and the step's total as the sum of
 * the medians.
 */
#define _POSIX_C_SOURCE 200112L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fastdense.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *matrix(long n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)n * sizeof(float)) != 0)
        abort();
    for (long i = 0; i < n; i++)
        ((float *)p)[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return (float *)p;
}

typedef struct {
    const char *name;
    fd_index m, n, k;
    int a_t, b_t;   /* the operand is the transpose of a stored array */
} product;

static const product STEP[] = {
    {"forward x@W1       128x784 @ 784x512", 128, 512, 784, 0, 0},
    {"forward h@W2       128x512 @ 512x10", 128, 10, 512, 0, 0},
    {"grad W2 = H^T dZ2  (128x512)^T @ 128x10", 512, 10, 128, 1, 0},
    {"grad h = dZ2 W2^T  128x10 @ (512x10)^T", 128, 512, 10, 0, 1},
    {"grad W1 = X^T dZ1  (128x784)^T @ 128x512", 784, 512, 128, 1, 0},
    {"grad x = dZ1 W1^T  128x512 @ (784x512)^T", 128, 784, 512, 0, 1},
};

int main(int argc, char **argv)
{
    const int calls = argc > 1 ? atoi(argv[1]) : 3000;
    const int nprod = (int)(sizeof(STEP) / sizeof(STEP[0]));
    double *t1 = malloc(sizeof(double) * (size_t)calls);
    double *t2 = malloc(sizeof(double) * (size_t)calls);
    double sum1 = 0.0, sum2 = 0.0;
    if (calls < 10 || !t1 || !t2)
        return 2;
    printf("fd_sgemm, SIMD %s, OpenMP %s: median time per call\n", fd_simd_name(),
           fd_openmp_enabled() ? "on" : "off");
    for (int s = 0; s < nprod; s++) {
        const product *P = &STEP[s];
        float *a = matrix((long)P->m * P->k), *b = matrix((long)P->k * P->n);
        float *c = matrix((long)P->m * P->n);
        /* A is m x k: stored (m, k) row-major, or (k, m) and transposed */
        const fd_index rs_a = P->a_t ? 1 : P->k, cs_a = P->a_t ? P->m : 1;
        const fd_index rs_b = P->b_t ? 1 : P->n, cs_b = P->b_t ? P->k : 1;
        int n1 = 0, n2 = 0;
#define CALL(nt) fd_sgemm(P->m, P->n, P->k, 1.0f, a, rs_a, cs_a, NULL, NULL, b, \
                          rs_b, cs_b, 0.0f, c, P->n, 1, NULL, 0, 0, (nt))
        for (int w = 0; w < 200; w++) {
            CALL(1);
            CALL(2);
        }
        while (n1 < calls) {
            for (int i = 0; i < 10 && n1 < calls; i++) {
                const double t0 = now();
                CALL(1);
                t1[n1++] = now() - t0;
            }
            for (int i = 0; i < 10 && n2 < calls; i++) {
                const double t0 = now();
                CALL(2);
                t2[n2++] = now() - t0;
            }
        }
        qsort(t1, (size_t)calls, sizeof(double), cmp);
        qsort(t2, (size_t)calls, sizeof(double), cmp);
        sum1 += t1[calls / 2];
        sum2 += t2[calls / 2];
        printf("  %-42s 1 thread %8.2f us   2 threads %8.2f us   %.2fx\n", P->name,
               1e6 * t1[calls / 2], 1e6 * t2[calls / 2], t1[calls / 2] / t2[calls / 2]);
        free(a);
        free(b);
        free(c);
    }
    printf("  %-42s 1 thread %8.2f us   2 threads %8.2f us   %.2fx\n", "the six together",
           1e6 * sum1, 1e6 * sum2, sum1 / sum2);
    free(t1);
    free(t2);
    return 0;
}
