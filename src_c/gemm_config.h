/*
 * gemm_config.h -- every tuning number of fd_sgemm in one place: the
 * register tile (MR x NR) and cache blocks (MC, KC, NC) of each SIMD level,
 * the thresholds of the planner (direct loop, threads, in-place B), and the
 * parameters of the narrow-n dot path.  Each number keeps the measurement
 * that chose it.  Those marked "overridable" may be set with -D for tuning
 * experiments (e.g. FASTDENSE_CFLAGS="-DFD_GEMM_AVX512_KC=512"); the tile
 * shapes are fixed by the kernels' code and are not.
 *
 * The machine the numbers were measured on: AMD EPYC Zen 5 (L1d 48 KiB,
 * L2 1 MiB per core, L3 32 MiB), one or two cores.
 */
#ifndef FASTDENSE_GEMM_CONFIG_H
#define FASTDENSE_GEMM_CONFIG_H

/* ---- register tiles (fixed by the micro-kernels' code) ------------------ */

/* Largest tile any kernel uses (sizes the temporary tile on the stack). */
#define FD_GEMM_MR_MAX 16
#define FD_GEMM_NR_MAX 32

/* Portable C kernel (gemm_generic.c): 4x8, small enough for any compiler to
 * keep in registers on any target. */
#define FD_GEMM_GENERIC_MR 4
#define FD_GEMM_GENERIC_NR 8

/* AVX2 + FMA kernel (gemm_avx2.c): the classic 6x16, 12 ymm accumulators. */
#define FD_GEMM_AVX2_MR 6
#define FD_GEMM_AVX2_NR 16

/* AVX-512F kernels (gemm_avx512.c): 8x32 when m is a multiple of 8 (128,
 * 784, 10000: no padded rows), 12x32 otherwise (e.g. the 10 rows of a
 * transposed n = 10 product); full tiles run at the same speed
 * (~220-245 GFLOP/s on one core); 14x32 measured 3-5% slower. */
#define FD_GEMM_AVX512_MR 12
#define FD_GEMM_AVX512_MR_SMALL 8
#define FD_GEMM_AVX512_NR 32

/* ---- cache blocks -------------------------------------------------------- */

/* Portable: MC 128, KC 256, NC 2048 (not tuned: the portable path is the
 * fallback for CPUs without AVX2, where ops.dot hands products to BLAS). */
#ifndef FD_GEMM_GENERIC_MC
#define FD_GEMM_GENERIC_MC 128
#endif
#ifndef FD_GEMM_GENERIC_KC
#define FD_GEMM_GENERIC_KC 256
#endif
#ifndef FD_GEMM_GENERIC_NC
#define FD_GEMM_GENERIC_NC 2048
#endif

/* AVX2 6x16: BLIS's Zen block sizes (MC 144, KC 256).  Overridable. */
#ifndef FD_GEMM_AVX2_MC
#define FD_GEMM_AVX2_MC 144
#endif
#ifndef FD_GEMM_AVX2_KC
#define FD_GEMM_AVX2_KC 256
#endif
#ifndef FD_GEMM_AVX2_NC
#define FD_GEMM_AVX2_NC 4080
#endif

/* AVX-512, measured on one core with thread CPU time: KC 256, 384 and 512
 * ran within noise of each other (~220-235 GFLOP/s at 128x784x512); KC 800,
 * i.e. one K block for k = 784, gained ~3-6% at 128x784x512 and
 * 10000x784x512 because C is then written once instead of written, re-read
 * and written again.  The KC x 32 B micro-panel (784*32*4 = 98 KiB) then
 * streams from L2 rather than sitting in L1 -- at 128 bytes per 8 cycles
 * that is well within Zen 5's L2 bandwidth -- and the MC x KC A block
 * (144*784*4 = 441 KiB) plus the B micro-panel fit the 1 MiB L2; the
 * KC x NC B block lives in L3.  (Zen 3 BLIS's MC 144 / KC 256 assume a
 * 512 KiB L2.)  The planner balances the block counts (k = 1000 gives 2
 * blocks of 504, not 800 + 200).  Overridable. */
#ifndef FD_GEMM_AVX512_MC
#define FD_GEMM_AVX512_MC 144
#endif
#ifndef FD_GEMM_AVX512_KC
#define FD_GEMM_AVX512_KC 800
#endif
#ifndef FD_GEMM_AVX512_NC
#define FD_GEMM_AVX512_NC 4080
#endif

/* ---- planner thresholds (gemm.c) ---------------------------------------- */

/* Direct (unpacked) triple loop at or below this m*n*k. */
#define FD_GEMM_SMALL_MNK 4096.0

/* Roughly the flops one more thread must get to pay for waking it (a
 * fork/join costs ~0.45 us here).  Measured on the seed network's
 * 1.3-MFLOP products, 2 threads against 1, in one C loop on an idle
 * machine: 128x512 @ 512x10 (dot path) 6.8 -> 4.1 us, (512x128)^T @ 128x10
 * 10.0 -> 5.8 us, 128x10 @ (512x10)^T 7.5 -> 5.0 us.  (An earlier tuning,
 * taken while the other core was busy, had kept the first and last on one
 * thread.)  Overridable. */
#ifndef FD_GEMM_FLOPS_PER_THREAD
#define FD_GEMM_FLOPS_PER_THREAD 500000.0
#endif

/* B read in place (not packed) when the rows of the problem are at most
 * this many; see the direct_b rule in fd_sgemm.  Overridable. */
#ifndef FD_GEMM_DIRECT_B_MAX_M
#define FD_GEMM_DIRECT_B_MAX_M 1024
#endif

/* Relative cost of packing one element, in units of one multiply-add of
 * the micro-kernel (measured: ~0.3 ns against ~0.01 ns); weighs the
 * packing against the tile area in the thread grid. */
#define FD_GEMM_PACK_COST 30

/* B blocks of at most this many floats (32 KiB, within L1) are walked a row
 * of tiles at a time (see fd_gemm_run): short k (128x10 @ 10x512 has a
 * 20 KiB block) measured 4-9% faster that way. */
#define FD_GEMM_ROWS_OUTER_B_FLOATS 8192

/* ---- narrow n: the dot-product path (gemm_dot.c) ------------------------ */

/* Widest C that takes the dot-product path (in chunks of at most
 * FD_GEMM_DOT_MAX_N columns): n = 25..32 measured slower than the tiles
 * (chunks of 13..16 go one row at a time, 17 loads per 16 FMAs) and stays
 * with them.  Overridable. */
#ifndef FD_GEMM_NARROW_MAX_N
#define FD_GEMM_NARROW_MAX_N 24
#endif

/* Columns per call of a dot kernel (one zmm of lanes j). */
#define FD_GEMM_DOT_MAX_N 16

/* K block of the dot path: at most this many floats of B^T (24 KiB), which
 * then stay in L1 for all rows (a 16 x 784 B^T block streamed from L2 ran at
 * half speed).  Overridable. */
#ifndef FD_GEMM_DOT_BT_FLOATS
#define FD_GEMM_DOT_BT_FLOATS 6144
#endif

/* Largest B^T (floats) each thread packs for itself: 256 KiB, i.e. n = 10
 * up to k = 6550; beyond, one shared copy.  Overridable. */
#ifndef FD_GEMM_DOT_BT_PRIVATE_MAX
#define FD_GEMM_DOT_BT_PRIVATE_MAX 65536
#endif

/* Rows of A per call of the dot kernel (also the height of the temporary
 * tile for C views whose column stride is not 1). */
#define FD_GEMM_DOT_ROWS 16

/* ---- ours or a BLAS: fd_sgemm_route (gemm.c) ----------------------------
 *
 * ops.dot hands a product to NumPy's BLAS where fd_sgemm does not win.
 * Measured on Zen 5 against OpenBLAS 0.3.31 (SkylakeX kernels, as NumPy's
 * wheels pick them here), one core, NumPy-allocated operands (16 bytes past
 * a cache line) in every C/F layout, sweeps of m, n in 1..10000 and k in
 * 10..784 (ratio = BLAS time / ours):
 *
 * - FD_SIMD_GENERIC: the 4x8 portable kernel is ~20x slower than any BLAS;
 *   FD_SIMD_AVX2: the 6x16 kernel runs ~121 GFLOP/s against OpenBLAS's
 *   AVX-512 ~197 (0.5-0.7x at every training shape): BLAS at both.
 * - m == 1 or n == 1 (matrix-vector): BLAS (its gemv; ours 0.2-0.9x).
 * - below FD_ROUTE_SMALL_FLOPS (2*m*n*k): BLAS.  A product of a few
 *   microseconds is mostly call overhead (ops.dot's checks ~1 us against
 *   np.dot's ~0.5) and OpenBLAS has small-matrix kernels: 0.2-0.7x.
 * - n <= FD_ROUTE_DOT_MAX_N with contiguous rows of A: ours, the dot path
 *   with >= 2 rows per kernel call (128x512 @ 512x10 1.2-2.2x,
 *   512x128 @ 128x10 1.0-1.7x); OpenBLAS is slow at narrow n and large m
 *   (1000x512 @ 512x4 2.6x).
 * - below FD_ROUTE_MID_FLOPS: BLAS (the tiles lose at most layouts here:
 *   128x512 @ 512x10 from F-order A 0.56x, 128x10 @ 10x512 0.75-1.15x).
 * - 13 <= n <= 16 (the dot kernel one row per call: 17 loads per 16 FMAs),
 *   33 <= n <= 48 (a second 32-wide tile, half padding) and 17 <= n <= 24
 *   without contiguous rows of A (transposed tiles, merged by scalar code):
 *   BLAS (1000x128 @ 128x16 0.72-0.92x, 1000x128 @ 128x48 0.5-0.8x,
 *   1000x128 @ 128x20 from F-order A 0.8x).
 * - everything else: ours (the training products 1.0-1.2x, predict
 *   10000x784 @ 784x512 0.95-1.05x; narrow n from F-order A and large m
 *   1.6-2.4x).
 */
#define FD_ROUTE_SMALL_FLOPS 1.2e6
#define FD_ROUTE_MID_FLOPS 2e6
#define FD_ROUTE_DOT_MAX_N 12

#endif /* FASTDENSE_GEMM_CONFIG_H */
