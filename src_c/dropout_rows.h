/*
 * dropout_rows.h -- the inner loops of the dropout and regularizer kernels,
 * compiled once per instruction set: dropout.c includes it for the portable
 * build, dropout_avx2.c and dropout_avx512.c with their ISA flags, and
 * fd_dropout_select() (dropout.c) hands out the set fd_simd_level() allows.
 *
 * fd_philox_fill is the expensive part of a dropout pass (10 rounds of two
 * 32x32->64 multiplies per 4 elements, against one multiply and a select to
 * apply the mask): the AVX-512 build runs 16 Philox blocks in the 16 lanes
 * of a vector, the AVX2 build 8, with the products from vpmuludq on the even
 * and the odd lanes.  A round is a chain of multiply, shuffle and xor, so
 * one vector alone waits on latency: 4 independent vectors per iteration
 * with AVX-512 (the fill of 65536 words: 17 -> 10.7 us) and 2 with AVX2
 * (16 registers; 48 -> 36 us).  The counter words of a group are laid out so
 * that the in-lane unpacks (no lane-crossing shuffle) leave the output
 * words in counter order: lane 4k + r of a vector with K 128-bit chunks
 * runs block K*r + k.  The first two rounds see lane-invariant words (only
 * c0 differs between the blocks of a group), so half of their products are
 * scalars.  Every build gives the bits of fd_philox4x32_10_block (philox.h):
 * it is integer arithmetic.
 *
 * The other loops are plain C the compiler vectorises for each ISA; the
 * float arithmetic in them is one IEEE operation per value (no contraction:
 * -ffp-contract=off), so all builds give the same bits, and the l1/l2 sums
 * are formed in 16 fixed double lanes whatever the vector width.
 *
 * Before including: FD_DR_SUFFIX (the name suffix, possibly empty) and
 * FD_DR_LINKAGE (static or nothing).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dropout_internal.h"
#include "fd_internal.h"
#include "philox.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define FD_DR_CAT2(a, b) a##b
#define FD_DR_CAT(a, b) FD_DR_CAT2(a, b)
#define FD_DR(name) FD_DR_CAT(name, FD_DR_SUFFIX)

/* ---- Philox words -------------------------------------------------------- */

/* One block, through the scalar reference: 4 words at out. */
static inline void fd_philox_one(uint32_t *out, uint64_t b, uint32_t k0,
                                 uint32_t k1, uint32_t s0, uint32_t s1)
{
    uint32_t c[4];
    c[0] = (uint32_t)b;
    c[1] = (uint32_t)(b >> 32);
    c[2] = s0;
    c[3] = s1;
    fd_philox4x32_10_block(c, k0, k1);
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

#if defined(__AVX512F__)
/* hi:lo = a * m per 32-bit lane (m broadcast) */
/* (pe: the 64-bit products of the even lanes, po: of the odd lanes; a
 * masked in-lane swap of 32-bit pairs picks the halves: one op each) */
static inline void fd_mulhilo16(__m512i a, __m512i m, __m512i *hi, __m512i *lo)
{
    const __m512i pe = _mm512_mul_epu32(a, m);
    const __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *hi = _mm512_mask_shuffle_epi32(po, 0x5555, pe, _MM_PERM_CDAB);
    *lo = _mm512_mask_shuffle_epi32(pe, 0xAAAA, po, _MM_PERM_CDAB);
}
#define FD_XOR3_16(a, b, c) _mm512_ternarylogic_epi32((a), (b), (c), 0x96)
#elif defined(__AVX2__)
static inline void fd_mulhilo8(__m256i a, __m256i m, __m256i *hi, __m256i *lo)
{
    const __m256i pe = _mm256_mul_epu32(a, m);
    const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}
#endif

/* words[4q + w] = word w of Philox4x32-10((b0+q, step), key), q < nblocks.
 * The vector builds write whole groups: up to FD_PHILOX_GROUP - 1 blocks
 * past nblocks (the caller's buffer has room for them). */
FD_DR_LINKAGE void FD_DR(fd_philox_fill)(uint32_t *words, uint64_t b0,
                                         fd_index nblocks, uint32_t k0,
                                         uint32_t k1, uint32_t s0, uint32_t s1)
{
    fd_index q = 0;
#if defined(__AVX512F__) || defined(__AVX2__)
    /* round 0 on the lane-invariant words: M1 * s0 */
    const uint64_t p1 = (uint64_t)FD_PHILOX_M1 * s0;
    const uint32_t r0_hi1 = (uint32_t)(p1 >> 32), r0_lo1 = (uint32_t)p1;
    /* the key of round r (no local arrays in the vector builds: GCC gives
     * them 64-byte alignment and aligned moves, which ASan's fake stack
     * (detect_stack_use_after_return) does not honour) */
#define FD_RK0(r) (k0 + (uint32_t)(r) * FD_PHILOX_W0)
#define FD_RK1(r) (k1 + (uint32_t)(r) * FD_PHILOX_W1)
#endif
#if defined(__AVX512F__)
    const __m512i m0 = _mm512_set1_epi64(FD_PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi64(FD_PHILOX_M1);
    const __m512i off = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
                                          14, 3, 7, 11, 15);
    /* 4 independent vectors ("ways") per iteration: a round is a chain of
     * multiply, shuffle and xor, so one vector alone waits on latency.  The
     * ways are named variables (FD_WAYS4 expands a statement per way). */
#define FD_WAYS4(X) X(0) X(1) X(2) X(3)
#define FD_P16_DECL(v) __m512i c0_##v, c1_##v, c2_##v, c3_##v;
#define FD_P16_START(v)                                                       \
    {                                                                         \
        __m512i hi, lo;                                                       \
        /* round 0: c0 = b + lane offset, c1 = bhi, c2 = s0, c3 = s1 */      \
        fd_mulhilo16(_mm512_add_epi32(                                        \
                         _mm512_set1_epi32((int)(uint32_t)(b + 16u * v)), off), \
                     m0, &hi, &lo);                                           \
        c2_##v = _mm512_xor_si512(hi, _mm512_set1_epi32((int)(s1 ^ FD_RK1(0)))); \
        c3_##v = lo;                                                          \
        /* round 1: c0 (a0) and c1 (a1) are the same in every lane */        \
        fd_mulhilo16(c2_##v, m1, &hi, &lo);                                   \
        c0_##v = _mm512_xor_si512(hi, _mm512_set1_epi32((int)(a1 ^ FD_RK0(1)))); \
        c1_##v = lo;                                                          \
        c2_##v = _mm512_xor_si512(c3_##v, x21);                               \
        c3_##v = x31;                                                         \
    }
#define FD_P16_ROUND(v)                                                       \
    {                                                                         \
        __m512i hi0, lo0, hi1, lo1;                                           \
        fd_mulhilo16(c0_##v, m0, &hi0, &lo0);                                 \
        fd_mulhilo16(c2_##v, m1, &hi1, &lo1);                                 \
        c0_##v = FD_XOR3_16(hi1, c1_##v, kk0);                                \
        c1_##v = lo1;                                                         \
        c2_##v = FD_XOR3_16(hi0, c3_##v, kk1);                                \
        c3_##v = lo0;                                                         \
    }
#define FD_P16_STORE(v)                                                       \
    {                                                                         \
        const __m512i t0 = _mm512_unpacklo_epi32(c0_##v, c1_##v);             \
        const __m512i t1 = _mm512_unpackhi_epi32(c0_##v, c1_##v);             \
        const __m512i t2 = _mm512_unpacklo_epi32(c2_##v, c3_##v);             \
        const __m512i t3 = _mm512_unpackhi_epi32(c2_##v, c3_##v);             \
        uint32_t *w = words + 4 * (q + 16 * v);                               \
        _mm512_storeu_si512((void *)(w + 0), _mm512_unpacklo_epi64(t0, t2));  \
        _mm512_storeu_si512((void *)(w + 16), _mm512_unpackhi_epi64(t0, t2)); \
        _mm512_storeu_si512((void *)(w + 32), _mm512_unpacklo_epi64(t1, t3)); \
        _mm512_storeu_si512((void *)(w + 48), _mm512_unpackhi_epi64(t1, t3)); \
    }
    for (; q < nblocks; q += 64) {
        const uint64_t b = b0 + (uint64_t)q;
        if ((uint32_t)b > 0xFFFFFFFFu - 63u) {   /* the low word carries */
            for (int l = 0; l < 64; l++)
                fd_philox_one(words + 4 * (q + l), b + (uint64_t)l, k0, k1, s0, s1);
            continue;
        }
        const uint32_t bhi = (uint32_t)(b >> 32);
        const uint32_t a0 = r0_hi1 ^ bhi ^ FD_RK0(0), a1 = r0_lo1;   /* c0, c1 */
        const uint64_t p0 = (uint64_t)FD_PHILOX_M0 * a0;
        const __m512i x21 = _mm512_set1_epi32((int)((uint32_t)(p0 >> 32) ^ FD_RK1(1)));
        const __m512i x31 = _mm512_set1_epi32((int)(uint32_t)p0);
        FD_WAYS4(FD_P16_DECL)
        FD_WAYS4(FD_P16_START)
        for (int r = 2; r < FD_PHILOX_ROUNDS; r++) {
            const __m512i kk0 = _mm512_set1_epi32((int)FD_RK0(r));
            const __m512i kk1 = _mm512_set1_epi32((int)FD_RK1(r));
            FD_WAYS4(FD_P16_ROUND)
        }
        FD_WAYS4(FD_P16_STORE)
    }
#elif defined(__AVX2__)
    const __m256i m0 = _mm256_set1_epi64x(FD_PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi64x(FD_PHILOX_M1);
    const __m256i off = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    /* two ways of 8 per iteration (16 ymm registers: more would spill) */
#define FD_WAYS2(X) X(0) X(1)
#define FD_P8_DECL(v) __m256i c0_##v, c1_##v, c2_##v, c3_##v;
#define FD_P8_START(v)                                                        \
    {                                                                         \
        __m256i hi, lo;                                                       \
        fd_mulhilo8(_mm256_add_epi32(                                         \
                        _mm256_set1_epi32((int)(uint32_t)(b + 8u * v)), off), \
                    m0, &hi, &lo);                                            \
        c2_##v = _mm256_xor_si256(hi, _mm256_set1_epi32((int)(s1 ^ FD_RK1(0)))); \
        c3_##v = lo;                                                          \
        fd_mulhilo8(c2_##v, m1, &hi, &lo);                                    \
        c0_##v = _mm256_xor_si256(hi, _mm256_set1_epi32((int)(a1 ^ FD_RK0(1)))); \
        c1_##v = lo;                                                          \
        c2_##v = _mm256_xor_si256(c3_##v, x21);                               \
        c3_##v = x31;                                                         \
    }
#define FD_P8_ROUND(v)                                                        \
    {                                                                         \
        __m256i hi0, lo0, hi1, lo1;                                           \
        fd_mulhilo8(c0_##v, m0, &hi0, &lo0);                                  \
        fd_mulhilo8(c2_##v, m1, &hi1, &lo1);                                  \
        c0_##v = _mm256_xor_si256(_mm256_xor_si256(hi1, c1_##v), kk0);        \
        c1_##v = lo1;                                                         \
        c2_##v = _mm256_xor_si256(_mm256_xor_si256(hi0, c3_##v), kk1);        \
        c3_##v = lo0;                                                         \
    }
#define FD_P8_STORE(v)                                                        \
    {                                                                         \
        const __m256i t0 = _mm256_unpacklo_epi32(c0_##v, c1_##v);             \
        const __m256i t1 = _mm256_unpackhi_epi32(c0_##v, c1_##v);             \
        const __m256i t2 = _mm256_unpacklo_epi32(c2_##v, c3_##v);             \
        const __m256i t3 = _mm256_unpackhi_epi32(c2_##v, c3_##v);             \
        uint32_t *w = words + 4 * (q + 8 * v);                                \
        _mm256_storeu_si256((__m256i *)(w + 0), _mm256_unpacklo_epi64(t0, t2)); \
        _mm256_storeu_si256((__m256i *)(w + 8), _mm256_unpackhi_epi64(t0, t2)); \
        _mm256_storeu_si256((__m256i *)(w + 16), _mm256_unpacklo_epi64(t1, t3)); \
        _mm256_storeu_si256((__m256i *)(w + 24), _mm256_unpackhi_epi64(t1, t3)); \
    }
    for (; q < nblocks; q += 16) {
        const uint64_t b = b0 + (uint64_t)q;
        if ((uint32_t)b > 0xFFFFFFFFu - 15u) {
            for (int l = 0; l < 16; l++)
                fd_philox_one(words + 4 * (q + l), b + (uint64_t)l, k0, k1, s0, s1);
            continue;
        }
        const uint32_t bhi = (uint32_t)(b >> 32);
        const uint32_t a0 = r0_hi1 ^ bhi ^ FD_RK0(0), a1 = r0_lo1;
        const uint64_t p0 = (uint64_t)FD_PHILOX_M0 * a0;
        const __m256i x21 = _mm256_set1_epi32((int)((uint32_t)(p0 >> 32) ^ FD_RK1(1)));
        const __m256i x31 = _mm256_set1_epi32((int)(uint32_t)p0);
        FD_WAYS2(FD_P8_DECL)
        FD_WAYS2(FD_P8_START)
        for (int r = 2; r < FD_PHILOX_ROUNDS; r++) {
            const __m256i kk0 = _mm256_set1_epi32((int)FD_RK0(r));
            const __m256i kk1 = _mm256_set1_epi32((int)FD_RK1(r));
            FD_WAYS2(FD_P8_ROUND)
        }
        FD_WAYS2(FD_P8_STORE)
    }
#else
    /* portable: FD_PHILOX_LANES blocks side by side in arrays, written so
     * the compiler can vectorise the rounds with widening multiplies (SSE2
     * pmuludq, NEON umull): 1.4x the one-block-at-a-time loop with SSE2 */
#define FD_PHILOX_LANES 8
    for (; q + FD_PHILOX_LANES <= nblocks; q += FD_PHILOX_LANES) {
        uint32_t c0[FD_PHILOX_LANES], c1[FD_PHILOX_LANES], c2[FD_PHILOX_LANES],
            c3[FD_PHILOX_LANES];
        for (int l = 0; l < FD_PHILOX_LANES; l++) {
            const uint64_t b = b0 + (uint64_t)q + (uint64_t)l;
            c0[l] = (uint32_t)b;
            c1[l] = (uint32_t)(b >> 32);
            c2[l] = s0;
            c3[l] = s1;
        }
        uint32_t kk0 = k0, kk1 = k1;
        for (int r = 0; r < FD_PHILOX_ROUNDS; r++) {
            if (r > 0) {
                kk0 += FD_PHILOX_W0;
                kk1 += FD_PHILOX_W1;
            }
            for (int l = 0; l < FD_PHILOX_LANES; l++) {
                const uint64_t p0 = (uint64_t)FD_PHILOX_M0 * c0[l];
                const uint64_t p1 = (uint64_t)FD_PHILOX_M1 * c2[l];
                c0[l] = (uint32_t)(p1 >> 32) ^ c1[l] ^ kk0;
                c1[l] = (uint32_t)p1;
                c2[l] = (uint32_t)(p0 >> 32) ^ c3[l] ^ kk1;
                c3[l] = (uint32_t)p0;
            }
        }
        for (int l = 0; l < FD_PHILOX_LANES; l++) {
            uint32_t *w = words + 4 * (q + l);
            w[0] = c0[l];
            w[1] = c1[l];
            w[2] = c2[l];
            w[3] = c3[l];
        }
    }
#endif
    for (; q < nblocks; q++)
        fd_philox_one(words + 4 * q, b0 + (uint64_t)q, k0, k1, s0, s1);
}

/* ---- applying a mask ----------------------------------------------------- */

/* x * scale where u >= t, else +0.0, as bits: the product's bits ANDed
 * with an all-ones or all-zeros mask.  The unsigned compare is a signed one
 * on words with the top bit flipped (SSE2 and AVX2 have only signed vector
 * compares); written as a float select, GCC 12 kept the loop scalar for
 * those builds, with a branch that mispredicts on half the elements (12x
 * slower).  memcpy is how C99 reads a float's bits (it compiles to nothing). */
static inline float fd_keep_or_zero(uint32_t u, int32_t ts, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= 0u - (uint32_t)((int32_t)(u ^ 0x80000000u) >= ts);
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* v where cond, else +0.0, as bits (the select form of the same thing
 * stays scalar in the SSE2/AVX2 builds when v is a product: GCC moves the
 * multiply under the branch and may not speculate it, -ftrapping-math). */
static inline float fd_bits_if(int cond, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= 0u - (uint32_t)cond;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* o[j] = u[j] >= t ? x[j] * scale : 0 (the product is formed for every
 * element: the loop has no branch, and o may be x). */
FD_DR_LINKAGE void FD_DR(fd_dropout_row)(fd_index len, const uint32_t *u,
                                         uint32_t t, float scale,
                                         const float *x, fd_index cx, float *o,
                                         fd_index co)
{
    const int32_t ts = (int32_t)(t ^ 0x80000000u);
    if (cx == 1 && co == 1) {
        for (fd_index j = 0; j < len; j++)
            o[j] = fd_keep_or_zero(u[j], ts, x[j] * scale);
    } else {
        for (fd_index j = 0; j < len; j++)
            o[j * co] = fd_keep_or_zero(u[j], ts, x[j * cx] * scale);
    }
}

/* o[j] = y[j] > 0 ? g[j] * scale : 0, then acc[j] += o[j] when acc != NULL:
 * relu backward and dropout backward in one select (y is the dropout
 * output, > 0 exactly where the relu was positive and the unit kept). */
FD_DR_LINKAGE void FD_DR(fd_relu_dropout_row)(fd_index len, const float *g,
                                              fd_index cg, const float *y,
                                              fd_index cy, float *o,
                                              fd_index co, float scale,
                                              float *acc)
{
    if (cg == 1 && cy == 1 && co == 1) {
        if (acc) {
            for (fd_index j = 0; j < len; j++) {
                const float r = fd_bits_if(y[j] > 0.0f, g[j] * scale);
                o[j] = r;
                acc[j] += r;
            }
        } else {
            for (fd_index j = 0; j < len; j++)
                o[j] = fd_bits_if(y[j] > 0.0f, g[j] * scale);
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float r = fd_bits_if(y[j * cy] > 0.0f, g[j * cg] * scale);
            o[j * co] = r;
            if (acc)
                acc[j] += r;
        }
    }
}

/* ---- l1/l2 penalty and gradient ------------------------------------------ */

/* sign(v) as np.sign: -1, +1, +0 for both zeros, NaN for NaN.  Built from
 * bit masks with every compare made for every element (as nested selects,
 * GCC left the loops scalar in the SSE2/AVX2 builds). */
static inline float fd_sign1(float v)
{
    uint32_t bits, r;
    float out;
    memcpy(&bits, &v, sizeof bits);
    r = (0x3F800000u & (0u - (uint32_t)(v > 0.0f))) |     /* +1.0f */
        (0xBF800000u & (0u - (uint32_t)(v < 0.0f))) |     /* -1.0f */
        (bits & (0u - (uint32_t)(v != v)));               /* NaN stays */
    memcpy(&out, &r, sizeof out);
    return out;
}

#define FD_L1L2_LANES 16
#define FD_L1L2_SUB 1024   /* elements per sub-block (a multiple of 16) */

/* g[j] += the terms of `terms` (unit or any strides) */
static inline void fd_l1l2_grad(fd_index len, const float *w, fd_index cw,
                                float *g, fd_index cg, float c1, float c2,
                                int terms)
{
    if (cw == 1 && cg == 1) {
        if (terms == (FD_L1L2_L1 | FD_L1L2_L2)) {
            for (fd_index j = 0; j < len; j++) {
                const float v = w[j];
                g[j] = g[j] + (c1 * fd_sign1(v) + c2 * v);
            }
        } else if (terms == FD_L1L2_L1) {
            for (fd_index j = 0; j < len; j++)
                g[j] = g[j] + c1 * fd_sign1(w[j]);
        } else {
            for (fd_index j = 0; j < len; j++)
                g[j] = g[j] + c2 * w[j];
        }
    } else {
        for (fd_index j = 0; j < len; j++) {
            const float v = w[j * cw];
            float d;
            if (terms == (FD_L1L2_L1 | FD_L1L2_L2))
                d = c1 * fd_sign1(v) + c2 * v;
            else if (terms == FD_L1L2_L1)
                d = c1 * fd_sign1(v);
            else
                d = c2 * v;
            g[j * cg] = g[j * cg] + d;
        }
    }
}

/* One row piece of the regularizer kernel:
 *   g[j] += c1*sign(w[j]) + c2*w[j]   (only the terms in `terms`; g may be
 *                                      NULL, and terms == 0 leaves g alone)
 *   sums[0] = sum |w[j]|, sums[1] = sum w[j]^2  (double)
 * The sums go into 16 double lanes, element k of the piece into lane k % 16,
 * each lane from +0.0 in element order, then the lanes are added in lane
 * order 0..15: the same order at every vector width (2 zmm or 4 ymm of
 * lanes, or 16 scalars; a double product of floats is exact, and add is
 * add).  The vector builds pad the last group with +0.0, which changes no
 * lane (every term is >= +0 or NaN), and keep no local arrays (see
 * FD_RK0).  The gradient of a sub-block is updated right after its sums,
 * while it is in L1. */
#if defined(__AVX512F__) || defined(__AVX2__)
/* element l of the group starting at k (+0.0 past the end) */
#define FD_W_AT(l) ((k + (l) < kend) ? w[(k + (l)) * cw] : 0.0f)
/* s += the 4 lanes of v, in order (register moves only) */
static inline double fd_fold4(double s, __m256d v)
{
    s += _mm256_cvtsd_f64(v);
    s += _mm256_cvtsd_f64(_mm256_permute4x64_pd(v, 0x01));
    s += _mm256_cvtsd_f64(_mm256_permute4x64_pd(v, 0x02));
    s += _mm256_cvtsd_f64(_mm256_permute4x64_pd(v, 0x03));
    return s;
}
#endif

/* g + the gradient terms of w, for 16 (AVX-512) or 8 (AVX2) elements: the
 * operations of fd_l1l2_grad, so the same bits; fused into the loop of the
 * sums, the gradient fills some of the latency of their add chains
 * (784x512 with AVX-512, best of 5 alternating runs: 66 -> 60 us; the sums
 * alone take 36 us, one pass of add 33 us). */
#if defined(__AVX512F__)
static inline __m512 fd_grad16(__m512 v, __m512 gv, __m512 c1v, __m512 c2v, int terms)
{
    const __m512 zero = _mm512_setzero_ps();
    __m512 d;
    if (terms & FD_L1L2_L1) {
        __m512 sg = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ),
                                        _mm512_set1_ps(1.0f));
        sg = _mm512_mask_mov_ps(sg, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ),
                                _mm512_set1_ps(-1.0f));
        sg = _mm512_mask_mov_ps(sg, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
        d = _mm512_mul_ps(c1v, sg);
        if (terms & FD_L1L2_L2)
            d = _mm512_add_ps(d, _mm512_mul_ps(c2v, v));
    } else {
        d = _mm512_mul_ps(c2v, v);
    }
    return _mm512_add_ps(gv, d);
}
#elif defined(__AVX2__)
static inline __m256 fd_grad8(__m256 v, __m256 gv, __m256 c1v, __m256 c2v, int terms)
{
    const __m256 zero = _mm256_setzero_ps();
    __m256 d;
    if (terms & FD_L1L2_L1) {
        __m256 sg = _mm256_or_ps(
            _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ), _mm256_set1_ps(1.0f)),
            _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ), _mm256_set1_ps(-1.0f)));
        sg = _mm256_or_ps(sg, _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), v));
        d = _mm256_mul_ps(c1v, sg);
        if (terms & FD_L1L2_L2)
            d = _mm256_add_ps(d, _mm256_mul_ps(c2v, v));
    } else {
        d = _mm256_mul_ps(c2v, v);
    }
    return _mm256_add_ps(gv, d);
}
#endif

FD_DR_LINKAGE void FD_DR(fd_l1l2_row)(fd_index len, const float *w,
                                      fd_index cw, float *g, fd_index cg,
                                      float c1, float c2, int terms,
                                      double sums[2])
{
#if defined(__AVX512F__)
    __m512d s1a = _mm512_setzero_pd(), s1b = _mm512_setzero_pd();
    __m512d s2a = _mm512_setzero_pd(), s2b = _mm512_setzero_pd();
    const int fuse = g != NULL && terms != 0 && cw == 1 && cg == 1;
    const __m512 c1v = _mm512_set1_ps(c1), c2v = _mm512_set1_ps(c2);
    for (fd_index k0 = 0; k0 < len; k0 += FD_L1L2_SUB) {
        const fd_index kend = fd_min(len, k0 + FD_L1L2_SUB);
        const fd_index kfull = cw == 1 ? kend - (kend - k0) % 16 : k0;
        for (fd_index k = k0; k < kend; k += 16) {
            __m512 v;
            if (k < kfull) {
                v = _mm512_loadu_ps(w + k);
                if (fuse)
                    _mm512_storeu_ps(g + k, fd_grad16(v, _mm512_loadu_ps(g + k), c1v,
                                                      c2v, terms));
            } else
                v = _mm512_setr_ps(FD_W_AT(0), FD_W_AT(1), FD_W_AT(2), FD_W_AT(3),
                                   FD_W_AT(4), FD_W_AT(5), FD_W_AT(6), FD_W_AT(7),
                                   FD_W_AT(8), FD_W_AT(9), FD_W_AT(10), FD_W_AT(11),
                                   FD_W_AT(12), FD_W_AT(13), FD_W_AT(14), FD_W_AT(15));
            const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
            const __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
            s1a = _mm512_add_pd(s1a, _mm512_abs_pd(lo));
            s1b = _mm512_add_pd(s1b, _mm512_abs_pd(hi));
            s2a = _mm512_add_pd(s2a, _mm512_mul_pd(lo, lo));
            s2b = _mm512_add_pd(s2b, _mm512_mul_pd(hi, hi));
        }
        if (fuse)   /* the last partial group */
            fd_l1l2_grad(kend - kfull, w + kfull, 1, g + kfull, 1, c1, c2, terms);
        else if (g != NULL && terms != 0)
            fd_l1l2_grad(kend - k0, w + k0 * cw, cw, g + k0 * cg, cg, c1, c2, terms);
    }
    {
        double f1 = 0.0, f2 = 0.0;
        f1 = fd_fold4(f1, _mm512_castpd512_pd256(s1a));
        f1 = fd_fold4(f1, _mm512_extractf64x4_pd(s1a, 1));
        f1 = fd_fold4(f1, _mm512_castpd512_pd256(s1b));
        f1 = fd_fold4(f1, _mm512_extractf64x4_pd(s1b, 1));
        f2 = fd_fold4(f2, _mm512_castpd512_pd256(s2a));
        f2 = fd_fold4(f2, _mm512_extractf64x4_pd(s2a, 1));
        f2 = fd_fold4(f2, _mm512_castpd512_pd256(s2b));
        f2 = fd_fold4(f2, _mm512_extractf64x4_pd(s2b, 1));
        sums[0] = f1;
        sums[1] = f2;
    }
#elif defined(__AVX2__)
    const __m256d absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFll));
    __m256d q1a = _mm256_setzero_pd(), q1b = q1a, q1c = q1a, q1d = q1a;
    __m256d q2a = q1a, q2b = q1a, q2c = q1a, q2d = q1a;
#define FD_Q_ADD(q1, q2, d)                                                   \
    do {                                                                      \
        q1 = _mm256_add_pd(q1, _mm256_and_pd(d, absmask));                    \
        q2 = _mm256_add_pd(q2, _mm256_mul_pd(d, d));                          \
    } while (0)
    const int fuse = g != NULL && terms != 0 && cw == 1 && cg == 1;
    const __m256 c1v = _mm256_set1_ps(c1), c2v = _mm256_set1_ps(c2);
    for (fd_index k0 = 0; k0 < len; k0 += FD_L1L2_SUB) {
        const fd_index kend = fd_min(len, k0 + FD_L1L2_SUB);
        const fd_index kfull = cw == 1 ? kend - (kend - k0) % 16 : k0;
        for (fd_index k = k0; k < kend; k += 16) {
            __m128 va, vb, vc, vd;
            if (k < kfull) {
                const __m256 v0 = _mm256_loadu_ps(w + k), v1 = _mm256_loadu_ps(w + k + 8);
                va = _mm256_castps256_ps128(v0);
                vb = _mm256_extractf128_ps(v0, 1);
                vc = _mm256_castps256_ps128(v1);
                vd = _mm256_extractf128_ps(v1, 1);
                if (fuse) {
                    _mm256_storeu_ps(g + k, fd_grad8(v0, _mm256_loadu_ps(g + k), c1v, c2v,
                                                     terms));
                    _mm256_storeu_ps(g + k + 8, fd_grad8(v1, _mm256_loadu_ps(g + k + 8),
                                                         c1v, c2v, terms));
                }
            } else {
                va = _mm_setr_ps(FD_W_AT(0), FD_W_AT(1), FD_W_AT(2), FD_W_AT(3));
                vb = _mm_setr_ps(FD_W_AT(4), FD_W_AT(5), FD_W_AT(6), FD_W_AT(7));
                vc = _mm_setr_ps(FD_W_AT(8), FD_W_AT(9), FD_W_AT(10), FD_W_AT(11));
                vd = _mm_setr_ps(FD_W_AT(12), FD_W_AT(13), FD_W_AT(14), FD_W_AT(15));
            }
            const __m256d da = _mm256_cvtps_pd(va), db = _mm256_cvtps_pd(vb);
            const __m256d dc = _mm256_cvtps_pd(vc), dd = _mm256_cvtps_pd(vd);
            FD_Q_ADD(q1a, q2a, da);
            FD_Q_ADD(q1b, q2b, db);
            FD_Q_ADD(q1c, q2c, dc);
            FD_Q_ADD(q1d, q2d, dd);
        }
        if (fuse)   /* the last partial group */
            fd_l1l2_grad(kend - kfull, w + kfull, 1, g + kfull, 1, c1, c2, terms);
        else if (g != NULL && terms != 0)
            fd_l1l2_grad(kend - k0, w + k0 * cw, cw, g + k0 * cg, cg, c1, c2, terms);
    }
    sums[0] = fd_fold4(fd_fold4(fd_fold4(fd_fold4(0.0, q1a), q1b), q1c), q1d);
    sums[1] = fd_fold4(fd_fold4(fd_fold4(fd_fold4(0.0, q2a), q2b), q2c), q2d);
#else
    double a1[FD_L1L2_LANES], a2[FD_L1L2_LANES];
    for (int l = 0; l < FD_L1L2_LANES; l++)
        a1[l] = a2[l] = 0.0;
    for (fd_index k0 = 0; k0 < len; k0 += FD_L1L2_SUB) {
        const fd_index kend = fd_min(len, k0 + FD_L1L2_SUB);
        for (fd_index k = k0; k < kend; k++) {
            const double d = (double)w[k * cw];
            a1[(k - k0) % FD_L1L2_LANES] += fabs(d);
            a2[(k - k0) % FD_L1L2_LANES] += d * d;
        }
        if (g != NULL && terms != 0)
            fd_l1l2_grad(kend - k0, w + k0 * cw, cw, g + k0 * cg, cg, c1, c2, terms);
    }
    {
        double f1 = 0.0, f2 = 0.0;
        for (int l = 0; l < FD_L1L2_LANES; l++) {
            f1 += a1[l];
            f2 += a2[l];
        }
        sums[0] = f1;
        sums[1] = f2;
    }
#endif
}
