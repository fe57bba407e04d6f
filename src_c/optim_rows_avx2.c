/*
 * optim_rows_avx2.c -- the optimizer family's row loops (optim_rows.h)
 * compiled with the avx2 flags of setup.py; fd_optim_rows_select()
 * (optim_rows.c) hands them out when fd_simd_level() allows.
 */
#include "optim_rows_internal.h"

#define FD_OPTIM_SUFFIX _avx2
#define FD_OPTIM_LINKAGE
#include "optim_rows.h"
