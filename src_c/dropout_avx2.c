/*
 * dropout_avx2.c -- the dropout and regularizer row loops (dropout_rows.h)
 * compiled with the avx2 flags of setup.py: Philox on 8 lanes.
 * fd_dropout_select() (dropout.c) hands them out when fd_simd_level() allows.
 */
#include "dropout_internal.h"

#define FD_DR_SUFFIX _avx2
#define FD_DR_LINKAGE
#include "dropout_rows.h"
