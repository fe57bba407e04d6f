"""Where the sparse first layer of a training step beats the dense one.

Measures, per SIMD level (FASTDENSE_SIMD=generic / avx2 / the CPU's best,
switched inside this process: the C kernels read it on every call), batch
128, units 512 and 16, 1 and 2 threads, over densities 0.01 .. 1:

  sparse: BatchWorkspace.gather (fd_csr_gather, + fd_csr_transpose of the
          batch when units > CSRTMM_MAX_UNITS) + csrmm_f32 forward (bias,
          relu) + BatchWorkspace.weight_gradient (csrmm_f32 on the transpose,
          or csrtmm_f32 on the batch for narrow layers);
  dense:  sgemm(x, W, out, bias=b, relu=True, a_rows=rows) and
          sgemm(x.T, dz, dW, a_cols=rows), what the engine runs today.

Inputs: 8192 x 784 rows with entries at random positions (density d,
values in (0, 1]); each sample draws a new random batch of rows, and W and
dW are touched between samples as the optimizer does.  Sparse and dense are
interleaved sample by sample; the statistic is the median (and the 25th
percentile) of many samples, and the minimum: on a loaded machine other
processes only ever add time, so the minimum is the cleanest estimate of
what each path costs, and the crossover is decided on it and on the p25.

    python benchmarks/sparse_crossover.py [--samples 41] [--json out.json]
        [--levels generic,avx2,avx512] [--threads 1,2] [--units 512,16]

Prints a table of sparse/dense time ratios and, per level, width and
thread count (1, 2 or more), the highest density up to which the sparse
path took at most --margin (default 0.85) of the dense time (ratio of the minima; cells
measured while another process held a core -- their dense minimum far
above the row's lowest -- are measured again, and marked "!" if they stay
so).  ``--summarize a.json,b.json`` prints the tables of saved runs and
their element-wise minimum: the CROSSOVER_TABLE of fastdense/_sparse.py
(CROSSOVER is its smallest entry per level).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import fastdense                              # noqa: E402
from fastdense import _config, _sparse        # noqa: E402

DENSITIES = [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
             0.6, 0.7, 0.8, 0.9, 1.0]


def make_inputs(rng, n_rows, k, density):
    x = np.zeros((n_rows, k), np.float32)
    mask = rng.random((n_rows, k)) < density
    x[mask] = rng.random(int(mask.sum()), dtype=np.float32) * 0.999 + 0.001
    return x


def measure(K, x, src, units, nthreads, samples, rng, batch=128):
    n_rows, k = x.shape
    W = (rng.standard_normal((k, units)) * 0.05).astype(np.float32)
    b = np.zeros(units, np.float32)
    out = np.empty((batch, units), np.float32)
    dz = rng.standard_normal((batch, units)).astype(np.float32)
    dW = np.empty((k, units), np.float32)
    ws = _sparse.BatchWorkspace.for_source(src, batch, nthreads=nthreads)
    t_sparse, t_dense = [], []
    clock = time.perf_counter
    for s in range(samples + 2):
        rows = rng.permutation(n_rows)[:batch].astype(np.int64)
        order = (0, 1) if s % 2 else (1, 0)
        for which in order:
            W[:, ::16] += 0.0          # the optimizer has just touched W, dW
            dW[:, ::16] = 0.0
            t0 = clock()
            if which == 0:
                xb = ws.gather(src, rows, transpose=ws.needs_transpose(units))
                K.csrmm_f32(xb.indptr, xb.indices, xb.values, W, out, bias=b,
                            relu=True, nthreads=nthreads)
                ws.weight_gradient(dz, dW)
            else:
                K.sgemm(x, W, out, bias=b, relu=True, a_rows=rows, nthreads=nthreads)
                K.sgemm(x.T, dz, dW, a_cols=rows, nthreads=nthreads)
            dt = clock() - t0
            if s >= 2:                 # two warm-up samples
                (t_sparse if which == 0 else t_dense).append(dt)
    return np.array(t_sparse), np.array(t_dense)


def flag_stalls(results, stall):
    """Mark the cells whose dense minimum exceeds `stall` times the lowest of
    their (level, units, threads) row (a run saved without the retries)."""
    best = {}
    for r in results:
        key = (r["level"], r["units"], r["threads"])
        best[key] = min(best.get(key, np.inf), r["dense_min_us"])
    for r in results:
        r["stalled"] = bool(r.get("stalled")) or bool(
            r["dense_min_us"] > stall * best[(r["level"], r["units"], r["threads"])])
    return results


def crossover_table(results, margin):
    """{level: {units: [1 thread, >= 2 threads]}}: the highest density d of
    the grid such that the ratio of the minima is <= margin at d and at every
    grid density below d (a stalled cell counts as failing)."""
    table = {}
    for r in results:
        table.setdefault(r["level"], {}).setdefault(r["units"], [None, None])
    for level, by_units in table.items():
        for units, cells in by_units.items():
            for many in (False, True):
                rows = sorted((r for r in results if r["level"] == level
                               and r["units"] == units and (r["threads"] >= 2) == many),
                              key=lambda r: r["density"])
                if not rows:
                    continue
                ok = 0.0
                for r in rows:
                    if r["ratio_min"] <= margin and not r["stalled"]:
                        ok = r["density"]
                    else:
                        break
                cells[many] = ok
    return table


def combine(tables):
    """Element-wise minimum of several runs' tables (the safe side)."""
    out = {}
    for t in tables:
        for level, by_units in t.items():
            for units, cells in by_units.items():
                cur = out.setdefault(level, {}).setdefault(units, [None, None])
                for i, v in enumerate(cells):
                    if v is not None:
                        cur[i] = v if cur[i] is None else min(cur[i], v)
    return out


def print_table(table, out=sys.stdout):
    order = ["generic", "avx2", "avx512"]
    for level in sorted(table, key=order.index):
        print("#   %-8s %s" % (level, ", ".join(
            "%d: (%s, %s)" % (u, c[0], c[1]) for u, c in sorted(table[level].items()))),
            file=out)


def cell(K, data, level, units, nt, d, samples, rng):
    x, src = data
    ts, td = measure(K, x, src, units, nt, samples, rng)
    row = dict(level=level, units=units, threads=nt, density=d,
               sparse_median_us=1e6 * np.median(ts), dense_median_us=1e6 * np.median(td),
               sparse_p25_us=1e6 * np.percentile(ts, 25),
               dense_p25_us=1e6 * np.percentile(td, 25),
               sparse_min_us=1e6 * ts.min(), dense_min_us=1e6 * td.min())
    row["ratio_median"] = row["sparse_median_us"] / row["dense_median_us"]
    row["ratio_p25"] = row["sparse_p25_us"] / row["dense_p25_us"]
    row["ratio_min"] = row["sparse_min_us"] / row["dense_min_us"]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=41)
    ap.add_argument("--levels", default=None)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--units", default="512,16")
    ap.add_argument("--densities", default=None)
    ap.add_argument("--margin", type=float, default=0.85)
    ap.add_argument("--retries", type=int, default=4)
    ap.add_argument("--stall", type=float, default=1.5,
                    help="a cell whose dense minimum exceeds this times the row's "
                         "lowest is re-measured")
    ap.add_argument("--summarize", default=None,
                    help="print the table of a saved --json run and exit")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.summarize:
        tables = []
        for path in args.summarize.split(","):
            with open(path) as f:
                saved = flag_stalls(json.load(f)["results"], args.stall)
            tables.append(crossover_table(saved, args.margin))
            print("# %s" % path)
            print_table(tables[-1])
        print("# element-wise minimum (units: (1 thread, >= 2 threads))")
        print_table(combine(tables))
        return
    K = _config._ckernels
    if K is None:
        sys.exit("the C extension is not built")
    best = K.simd_name()
    all_levels = ["generic", "avx2", "avx512"]
    levels = args.levels.split(",") if args.levels else \
        all_levels[:all_levels.index(best) + 1]
    threads = [int(t) for t in args.threads.split(",")]
    units_list = [int(u) for u in args.units.split(",")]
    densities = [float(d) for d in args.densities.split(",")] if args.densities \
        else DENSITIES
    rng = np.random.default_rng(0)
    results = []
    print("# sparse/dense time of the first layer's step work, batch 128, k 784: "
          "ratio of the minima / of the 25th percentiles, %d samples" % args.samples)
    print("# cpu simd %s, load average %s" % (best, os.getloadavg()))
    header = "%-8s %5s %3s " % ("level", "units", "thr") + " ".join(
        "%10s" % ("d=%g" % d) for d in densities)
    print(header)
    inputs = {}
    old = os.environ.get("FASTDENSE_SIMD")
    try:
        for d in densities:
            x = make_inputs(rng, 8192, 784, d)
            with fastdense.use_backend("c"):
                inputs[d] = (x, _sparse.from_dense(x))
        for level in levels:
            os.environ["FASTDENSE_SIMD"] = level
            assert K.simd_name() == level, (level, K.simd_name())
            for units in units_list:
                for nt in threads:
                    rows = {}
                    for d in densities:
                        rows[d] = cell(K, inputs[d], level, units, nt, d,
                                       args.samples, rng)
                    # the dense step costs the same at every density: a cell
                    # whose dense minimum is far above the row's lowest was
                    # measured while another process held a core (every call
                    # of a 2-thread team then waits a scheduler slice, ~16
                    # ms here): measure it again, keep the cleanest try
                    for attempt in range(args.retries):
                        ref = min(r["dense_min_us"] for r in rows.values())
                        stalled = [d for d, r in rows.items()
                                   if r["dense_min_us"] > args.stall * ref]
                        if not stalled:
                            break
                        for d in stalled:
                            again = cell(K, inputs[d], level, units, nt, d,
                                         args.samples, rng)
                            again["retries"] = rows[d].get("retries", 0) + 1
                            if again["dense_min_us"] < rows[d]["dense_min_us"]:
                                rows[d] = again
                            else:
                                rows[d]["retries"] = again["retries"]
                    ref = min(r["dense_min_us"] for r in rows.values())
                    cells = []
                    for d in densities:
                        r = rows[d]
                        r["stalled"] = bool(r["dense_min_us"] > args.stall * ref)
                        results.append(r)
                        cells.append("%4.2f/%4.2f%s" % (r["ratio_min"], r["ratio_p25"],
                                                        "!" if r["stalled"] else ""))
                    print("%-8s %5d %3d " % (level, units, nt) + " ".join(
                        "%10s" % c for c in cells), flush=True)
    finally:
        if old is None:
            os.environ.pop("FASTDENSE_SIMD", None)
        else:
            os.environ["FASTDENSE_SIMD"] = old
    summary = crossover_table(results, args.margin)
    print("# CROSSOVER_TABLE: per level and width, the highest grid density at which, "
          "and at every grid density below which, the ratio of the minima is <= %.2f "
          "(units: (1 thread, >= 2 threads))" % args.margin)
    print_table(summary)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(results=results, samples=args.samples,
                           load=os.getloadavg()), f, indent=1)


if __name__ == "__main__":
    main()
