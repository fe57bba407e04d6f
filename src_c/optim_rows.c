/*
 * optim_rows.c -- the portable build of the optimizer family's row loops
 * (optim_rows.h) and the choice, per call, between it and the AVX2 /
 * AVX-512 builds (optim_rows_avx2.c, optim_rows_avx512.c) by fd_simd_level().
 */
#include "optim_rows_internal.h"

#define FD_OPTIM_SUFFIX
#define FD_OPTIM_LINKAGE static
#include "optim_rows.h"

#define FD_OPTIM_ROWS_FILL(t, sfx)                                            \
    do {                                                                      \
        (t).fd_gclip_row = fd_gclip_row##sfx;                                 \
        (t).fd_sumsq_row = fd_sumsq_row##sfx;                                 \
        (t).fd_adagrad_row = fd_adagrad_row##sfx;                             \
        (t).fd_adadelta_row = fd_adadelta_row##sfx;                           \
        (t).fd_adamax_row = fd_adamax_row##sfx;                               \
        (t).fd_nadam_row = fd_nadam_row##sfx;                                 \
        (t).fd_adamw_row = fd_adamw_row##sfx;                                 \
    } while (0)

fd_optim_rows_table fd_optim_rows_select(void)
{
    fd_optim_rows_table t;
    const int level = fd_simd_level();
    FD_OPTIM_ROWS_FILL(t, );
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (level >= FD_SIMD_AVX2)
        FD_OPTIM_ROWS_FILL(t, _avx2);
#endif
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
    if (level >= FD_SIMD_AVX512)
        FD_OPTIM_ROWS_FILL(t, _avx512);
#endif
    (void)level;
    return t;
}
