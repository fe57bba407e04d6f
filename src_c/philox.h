/*
 * philox.h -- Philox4x32-10, the counter-based generator behind the dropout
 * masks, and the one definition of those masks.
 *
 * Philox4x32-R (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
 * easy as 1, 2, 3", SC11; the Random123 library) maps a 128-bit counter
 * (c0, c1, c2, c3) and a 64-bit key (k0, k1) to four 32-bit words by R
 * rounds of
 *     (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2      (32x32 -> 64 bits)
 *     (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 * with the key bumped by the Weyl constants (k0 += W0, k1 += W1, mod 2^32)
 * before every round but the first.  M0 = 0xD2511F53, M1 = 0xCD9E8D57,
 * W0 = 0x9E3779B9 (golden ratio), W1 = 0xBB67AE85 (sqrt(3) - 1), R = 10:
 * Random123's philox4x32_10.  tests/test_dropout_kernels.py and
 * tests_c/kernels_driver.c check it against Random123's kat_vectors
 * (counter 0 / key 0, all ones, the digits of pi).
 *
 * THE DROPOUT MASK.  For an m x n batch, element (i, j) has the global index
 * e = i*n + j (its row-major position, whatever the memory layout), and
 *     key     = (seed mod 2^32, seed >> 32)                 seed: uint64
 *     counter = (b mod 2^32, b >> 32, step mod 2^32, step >> 32),  b = e >> 2
 *     u(e)    = word (e & 3) of Philox4x32-10(counter, key)
 * so one Philox call serves four consecutive elements, and the words, taken
 * in counter order, are the elements in row-major order.  With
 *     t = ceil(rate * 2^32)          (exact in double: 0 <= t <= 2^32)
 * element e is KEPT iff u(e) >= t (as unsigned integers).  rate = 0 gives
 * t = 0 and keeps everything; for rate in (0, 1) the drop probability is
 * t / 2^32, in [rate, rate + 2^-32).  An integer compare, not a float one:
 * it is exact (no question of how a float conversion rounds), uses all 32
 * bits (a 24-bit float u in [0, 1) would give 2^-24 steps) and is one
 * unsigned vector compare.  Nothing depends on the thread split, the SIMD
 * level or the layout: the mask is a pure function of (seed, step, e), and
 * fastdense/reference.py computes the same words with NumPy integers.
 * `step` says which call this is (the training step, and whatever stream
 * number the caller folds in); different dropout layers should use
 * different seeds.
 *
 * The vector builds (dropout_rows.h) compute 8 or 16 blocks at once; this
 * scalar version is the reference they are tested against.
 */
#ifndef FD_PHILOX_H
#define FD_PHILOX_H

#include <stdint.h>

#define FD_PHILOX_M0 0xD2511F53u
#define FD_PHILOX_M1 0xCD9E8D57u
#define FD_PHILOX_W0 0x9E3779B9u
#define FD_PHILOX_W1 0xBB67AE85u
#define FD_PHILOX_ROUNDS 10

/* c = Philox4x32-10(c, (k0, k1)), in place. */
static inline void fd_philox4x32_10_block(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    uint32_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
    for (int r = 0; r < FD_PHILOX_ROUNDS; r++) {
        if (r > 0) {
            k0 += FD_PHILOX_W0;
            k1 += FD_PHILOX_W1;
        }
        const uint64_t p0 = (uint64_t)FD_PHILOX_M0 * c0;
        const uint64_t p1 = (uint64_t)FD_PHILOX_M1 * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
    }
    c[0] = c0;
    c[1] = c1;
    c[2] = c2;
    c[3] = c3;
}

/* The keep threshold t = ceil(rate * 2^32) of a rate in [0, 1). */
static inline uint64_t fd_dropout_threshold(double rate)
{
    const double s = rate * 4294967296.0;   /* exact: a power-of-two scaling */
    uint64_t t = (uint64_t)s;               /* floor, s >= 0 */
    if ((double)t < s)
        t++;
    return t;
}

#endif
