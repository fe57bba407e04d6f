/*
 * optim_avx512.c -- the optimizer row loops (optim_rows.h) compiled with the
 * avx512 flags of setup.py; optim.c calls them when fd_simd_level() allows.
 */
#include "optim_internal.h"

#define FD_ROWS_SUFFIX _avx512
#define FD_ROWS_LINKAGE
#include "optim_rows.h"
