/*
 * activations_avx2.c -- the activation chunk loops (activations_rows.h)
 * compiled with the avx2 flags of setup.py; activations.c hands them out
 * when fd_simd_level() allows.
 */
#define FD_ACT_SUFFIX _avx2
#define FD_ACT_LINKAGE
#include "activations_rows.h"
