/*
 * rows_avx512.c -- the row loops (rows.h) compiled with the avx512 flags of
 * setup.py; fd_rows_select() (rows.c) hands them out when fd_simd_level()
 * allows.
 */
#include "rows_internal.h"

#define FD_ROWS_SUFFIX _avx512
#define FD_ROWS_LINKAGE
#include "rows.h"
