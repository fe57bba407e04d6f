/*
 * cpu.c -- run-time configuration: which SIMD level the kernels use and
 * whether OpenMP was compiled in.
 *
 * Design: nothing is cached in globals.  The CPU features come from the
 * compiler's support routines (__builtin_cpu_supports reads the data libgcc /
 * compiler-rt filled in once at load time, including the OS check that the
 * wide registers are saved), capped by what this build compiled
 * (FD_HAVE_AVX2 / FD_HAVE_AVX512).  The environment variable FASTDENSE_SIMD
 * (generic | avx2 | avx512) can only *lower* the level; it is read on every
 * call so tests can switch paths at run time.  Other compilers and other
 * architectures get FD_SIMD_GENERIC (the portable C kernels).
 */
#include <stdlib.h>
#include <string.h>

#include "fastdense.h"

static int fd_cpu_level(void)
{
    int level = FD_SIMD_GENERIC;
#if (defined(__GNUC__) || defined(__clang__)) && \
    (defined(__x86_64__) || defined(__i386__)) && !defined(_MSC_VER)
#if defined(FD_HAVE_AVX2) && FD_HAVE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        level = FD_SIMD_AVX2;
#if defined(FD_HAVE_AVX512) && FD_HAVE_AVX512
        if (__builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq"))
            level = FD_SIMD_AVX512;
#endif
    }
#endif
#endif
    return level;
}

int fd_simd_level(void)
{
    int level = fd_cpu_level();
    const char *env = getenv("FASTDENSE_SIMD");
    if (env != NULL && env[0] != '\0') {
        int cap = level;
        if (strcmp(env, "generic") == 0 || strcmp(env, "none") == 0 ||
            strcmp(env, "0") == 0)
            cap = FD_SIMD_GENERIC;
        else if (strcmp(env, "avx2") == 0 || strcmp(env, "1") == 0)
            cap = FD_SIMD_AVX2;
        else if (strcmp(env, "avx512") == 0 || strcmp(env, "2") == 0)
            cap = FD_SIMD_AVX512;
        if (cap < level)
            level = cap;
    }
    return level;
}

const char *fd_simd_name(void)
{
    switch (fd_simd_level()) {
    case FD_SIMD_AVX512: return "avx512";
    case FD_SIMD_AVX2: return "avx2";
    default: return "generic";
    }
}

int fd_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
