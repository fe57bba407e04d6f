/*
 * optim_avx2.c -- the optimizer row loops (optim_rows.h) compiled with the
 * avx2 flags of setup.py; optim.c calls them when fd_simd_level() allows.
 */
#include "optim_internal.h"

#define FD_ROWS_SUFFIX _avx2
#define FD_ROWS_LINKAGE
#include "optim_rows.h"
