/*
 * rows_avx2.c -- the row loops (rows.h) compiled with the avx2 flags of
 * setup.py; fd_rows_select() (rows.c) hands them out when fd_simd_level()
 * allows.
 */
#include "rows_internal.h"

#define FD_ROWS_SUFFIX _avx2
#define FD_ROWS_LINKAGE
#include "rows.h"
