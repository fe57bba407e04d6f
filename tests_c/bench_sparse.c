/*
 * bench_sparse.c -- the first-layer products of a training step, sparse
 * (fd_csr_gather + fd_csr_transpose + fd_csrmm_f32 forward and weight
 * gradient) against dense (fd_sgemm with the a_rows / a_cols gathers), in C,
 * interleaved, medians of many samples.  A tuning tool for src_c/sparse.c
 * (block sizes, thread thresholds); the crossover table behind 'auto' is
 * measured from Python by benchmarks/sparse_crossover.py.
 *
 *   gcc -O3 -std=c99 -fopenmp -Isrc_c -DFD_HAVE_AVX2=1 -DFD_HAVE_AVX512=1 \
 *       (src_c files, the _avx2/_avx512 ones with their flags) \
 *       tests_c/bench_sparse.c -lm -o /tmp/bench_sparse
 *   /tmp/bench_sparse [data.f32|-] [density] [units] [threads] [reps] [offset]
 *
 * data.f32: rows of 784 float32 (e.g. MNIST / 255, written by NumPy's
 * tofile); "-" draws random rows at `density` instead.  Wall clock; each
 * sample draws a new batch and touches W and dW as the optimizer would;
 * prints the minimum (other processes only add time) and the median.
 * Units <= 32 time the weight gradient as fd_csrtmm_f32 (no transpose), as
 * BatchWorkspace.weight_gradient does.
 */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fastdense.h"

static uint64_t st = 88172645463325252ull;
static uint64_t rnd(void)
{
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    return st;
}
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *falloc(size_t n, size_t off_bytes)
{
    /* NumPy-like: 16 bytes past a 64-byte line unless off_bytes says else */
    char *p;
    if (posix_memalign((void **)&p, 64, n * sizeof(float) + 64) != 0)
        exit(2);
    return (float *)(p + off_bytes);
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "-";
    const double density = argc > 2 ? atof(argv[2]) : 0.19;
    const fd_index units = argc > 3 ? atol(argv[3]) : 512;
    const int nt = argc > 4 ? atoi(argv[4]) : 1;
    const int reps = argc > 5 ? atoi(argv[5]) : 200;
    const size_t off = argc > 6 ? (size_t)atol(argv[6]) : 16;
    const fd_index K = 784, B = 128;
    fd_index N = 8192;
    float *X;

    X = falloc((size_t)N * K, off);
    if (strcmp(data, "-") != 0) {
        FILE *f = fopen(data, "rb");
        if (!f) { perror(data); return 2; }
        N = (fd_index)fread(X, sizeof(float) * K, (size_t)N, f);
        fclose(f);
    } else {
        for (fd_index t = 0; t < N * K; t++)
            X[t] = unif() < density ? (float)unif() : 0.0f;
    }
    /* the big CSR of X */
    int64_t *ip = malloc(sizeof(int64_t) * (N + 1));
    fd_csr_from_dense_f32(N, K, X, K, 1, ip, NULL, NULL, 0, nt);
    const int64_t nnz = ip[N];
    int32_t *ix = malloc(sizeof(int32_t) * (nnz + 1));
    float *vx = malloc(sizeof(float) * (nnz + 1));
    double t0 = now();
    int s = fd_csr_from_dense_f32(N, K, X, K, 1, ip, ix, vx, nnz, nt);
    double t1 = now();
    fd_csr_from_dense_f32(N, K, X, K, 1, ip, NULL, NULL, 0, nt);
    double t2 = now();
    printf("from_dense %ldx%ld: count %.0f us + fill %.0f us (status %d), density %.4f\n",
           (long)N, (long)K, 1e6 * (t2 - t1), 1e6 * (t1 - t0), s, (double)nnz / N / K);

    float *W = falloc((size_t)K * units, off), *bias = falloc(units, off);
    float *Z = falloc((size_t)B * units, off), *dZ = falloc((size_t)B * units, off);
    float *dW = falloc((size_t)K * units, off);
    for (fd_index t = 0; t < K * units; t++)
        W[t] = (float)unif() - 0.5f;
    for (fd_index t = 0; t < B * units; t++)
        dZ[t] = (float)unif() - 0.5f;
    for (fd_index t = 0; t < units; t++)
        bias[t] = 0.01f;
    int64_t rows[128];
    const int64_t cap = nnz < 784 * 128 ? nnz : 784 * 128;
    int64_t *bip = malloc(sizeof(int64_t) * (B + 1));
    int32_t *bix = malloc(sizeof(int32_t) * cap);
    float *bvx = malloc(sizeof(float) * cap);
    int64_t *tip = malloc(sizeof(int64_t) * (K + 1));
    int32_t *tix = malloc(sizeof(int32_t) * cap);
    float *tvx = malloc(sizeof(float) * cap);
    int64_t *work = malloc(sizeof(int64_t) * K * (nt < 1 ? 1 : nt));

    enum { NT = 6 };
    const char *names[NT] = {"dense fwd sgemm(a_rows)", "dense dW sgemm(a_cols)",
                             "sparse gather", "sparse transpose",
                             "sparse fwd csrmm", "sparse dW csrmm/csrtmm"};
    double *tm[NT];
    for (int q = 0; q < NT; q++)
        tm[q] = malloc(sizeof(double) * reps);
    double bnnz = 0;
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < B; i++)
            rows[i] = (int64_t)(rnd() % (uint64_t)N);
        double a = now();
        fd_sgemm(B, units, K, 1.0f, X, K, 1, rows, NULL, W, units, 1, 0.0f, Z,
                 units, 1, bias, 1, 1, nt);
        double b = now();
        /* x.T viewed: (K x N) with rs 1, cs K, gathered columns */
        fd_sgemm(K, units, B, 1.0f, X, 1, K, NULL, rows, dZ, units, 1, 0.0f, dW,
                 units, 1, NULL, 0, 0, nt);
        double c = now();
        if (fd_csr_gather(B, rows, N, ip, ix, vx, bip, bix, bvx, cap, nt)) {
            printf("gather failed\n");
            return 1;
        }
        double d = now();
        if (units > 32)
            fd_csr_transpose(B, K, bip, bix, bvx, tip, tix, tvx, work, nt);
        double e = now();
        fd_csrmm_f32(B, units, K, bip, bix, bvx, W, units, 1, Z, units, 1, bias,
                     1, 1, nt);
        double f = now();
        if (units > 32)
            fd_csrmm_f32(K, units, B, tip, tix, tvx, dZ, units, 1, dW, units, 1,
                         NULL, 0, 0, nt);
        else
            fd_csrtmm_f32(B, units, K, bip, bix, bvx, dZ, units, 1, dW, units, 1, nt);
        double g = now();
        for (fd_index t = 0; t < K * units; t += 16) {   /* the optimizer's pass */
            W[t] += 0.0f;
            dW[t] = 0.0f;
        }
        tm[0][r] = b - a;
        tm[1][r] = c - b;
        tm[2][r] = d - c;
        tm[3][r] = e - d;
        tm[4][r] = f - e;
        tm[5][r] = g - f;
        bnnz += (double)bip[B];
    }
    printf("batch %ld x %ld @ %ld units, %d threads, simd %s, batch nnz %.0f, "
           "offset %zu\n", (long)B, (long)K, (long)units, nt, fd_simd_name(),
           bnnz / reps, off);
    double med[NT], mins[NT];
    for (int q = 0; q < NT; q++) {
        qsort(tm[q], (size_t)reps, sizeof(double), cmpd);
        med[q] = tm[q][reps / 2];
        printf("  %-26s min %8.1f us   median %8.1f\n", names[q], 1e6 * tm[q][0],
               1e6 * med[q]);
        mins[q] = tm[q][0];
    }
    printf("  minima: dense %.1f us, sparse %.1f us: ratio %.3f; medians: ratio %.3f\n",
           1e6 * (mins[0] + mins[1]), 1e6 * (mins[2] + mins[3] + mins[4] + mins[5]),
           (mins[2] + mins[3] + mins[4] + mins[5]) / (mins[0] + mins[1]),
           (med[2] + med[3] + med[4] + med[5]) / (med[0] + med[1]));
    return 0;
}
