/*
 * rows.c -- the portable build of the row loops (rows.h) and the choice,
 * per call, between it and the AVX2 / AVX-512 builds (rows_avx2.c,
 * rows_avx512.c) by fd_simd_level().
 */
#include "rows_internal.h"

#define FD_ROWS_SUFFIX
#define FD_ROWS_LINKAGE static
#include "rows.h"

#define FD_ROWS_FILL(t, sfx)                                                  \
    do {                                                                      \
        (t).fd_add_row = fd_add_row##sfx;                                     \
        (t).fd_relu_row = fd_relu_row##sfx;                                   \
        (t).fd_accumulate_row = fd_accumulate_row##sfx;                       \
        (t).fd_relu_mask_row = fd_relu_mask_row##sfx;                         \
        (t).fd_rmsprop_row = fd_rmsprop_row##sfx;                             \
        (t).fd_sgd_row = fd_sgd_row##sfx;                                     \
        (t).fd_adam_row = fd_adam_row##sfx;                                   \
    } while (0)

fd_rows_table fd_rows_select(void)
{
    fd_rows_table t;
    const int level = fd_simd_level();
    FD_ROWS_FILL(t, );
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= FD_SIMD_AVX2)
        FD_ROWS_FILL(t, _avx2);
#endif
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512)
        FD_ROWS_FILL(t, _avx512);
#endif
    (void)level;
    return t;
}
