"""What the reader sees: the table on stdout, the JSON, the PNG chart.

Every figure in the table is in the JSON (``cli.run``'s result, written as
is).  The header names the CPU (model, and for AMD the Zen generation from
cpuid family/model), the BLAS library behind NumPy with its version and
kernel family, the thread counts, and, where OPENBLAS_CORETYPE or
OPENBLAS_L2_SIZE is set, says so and labels both NumPy figures: "NumPy as
users have it (... kernels)", the one ratios use, and "NumPy (as the
environment sets it: ... kernels)".
"""
import json
import math
import os

from .._atomic import atomic_file
from . import contenders as C

ENV = C.ENV


def fmt_time(s):
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        return "-"
    if s < 1e-3:
        return "%.1f us" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.3f s" % s


def fmt_ratio(r):
    return "%.2fx" % r if isinstance(r, (int, float)) and math.isfinite(r) else "-"


def fmt_bytes(b):
    if not isinstance(b, (int, float)):
        return "?"
    if b >= 2 ** 30:
        return "%.2f GB" % (b / 2.0 ** 30)
    return "%.1f MB" % (b / 2.0 ** 20)


def _plural(n, word="thread"):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def contender_label(name, res):
    """The row label: the name, and for NumPy-BLAS contenders which NumPy."""
    nb = res.get("numpy_blas", {})
    base = C.base_name(name)
    if name.endswith(ENV):
        return "%s, %s" % (base, nb.get("label_env", "NumPy as the environment sets it"))
    if nb.get("measured_as_users") and base in C.BLAS_CONTENDERS:
        return "%s, %s" % (base, nb.get("label_users", "NumPy as users have it"))
    if base == C.FASTDENSE_C and res.get("sparse_modes"):
        return "%s (sparse inputs 'auto')" % base
    if base == C.FASTDENSE_C_DENSE:
        return "%s (sparse inputs 'never')" % C.FASTDENSE_C
    if base == C.IMDB_NUMPY and nb.get("measured_as_users"):
        return "%s, %s" % (base, nb.get("label_users", "NumPy as users have it"))
    return name


# ---------------------------------------------------------------------------
# the header
# ---------------------------------------------------------------------------

def _header(res, lines):
    m = res["machine"]
    nb = res.get("numpy_blas", {})
    lines.append("fastdense bench  %s" % res["created"])
    lines.append("CPU: %s; %d usable cores (%s logical CPUs); fastdense SIMD %s, OpenMP %s" % (
        m.get("cpu_text", m["cpu"]), m["usable_cores"], m.get("logical_cpus", "?"),
        m["simd"], "on" if m["openmp"] else "off"))
    lines.append("software: fastdense %s, Python %s, NumPy %s, threadpoolctl %s" % (
        m["fastdense"], m["python"], m["numpy"], m.get("threadpoolctl") or "not installed"))
    lines.append("BLAS behind NumPy (this process): %s" % m.get("blas_text", "?"))
    oenv = nb.get("openblas_env") or {}
    setting = ", ".join("%s=%s" % kv for kv in oenv.items())
    if oenv and nb.get("measured_as_users"):
        lines.append(
            "%s %s SET in this environment. OpenBLAS reads %s when NumPy loads, so this "
            "process runs its %s kernels; users do not have %s. NumPy is therefore also "
            "measured in a worker process started without %s, driven sample by sample over "
            "a pipe so that its samples stay interleaved with fastdense's: %s. Ratios use "
            "that figure; %s is shown beside it." % (
                setting, "is" if len(oenv) == 1 else "are",
                "it" if len(oenv) == 1 else "them", nb.get("env_kernels") or "chosen",
                "it" if len(oenv) == 1 else "them", "it" if len(oenv) == 1 else "them",
                nb.get("label_users"), nb.get("label_env")))
        lines.append("BLAS behind NumPy (worker, as users have it): %s" % nb.get(
            "users_blas_text", "?"))
    elif oenv:
        lines.append("%s %s SET in this environment (OpenBLAS reads %s at load: this process "
                     "runs its %s kernels) and NumPy was NOT measured without %s (%s): every "
                     "NumPy figure below is %s, not NumPy as users have it." % (
                         setting, "is" if len(oenv) == 1 else "are",
                         "it" if len(oenv) == 1 else "them", nb.get("env_kernels") or "chosen",
                         "it" if len(oenv) == 1 else "them", nb.get("why_not") or "",
                         nb.get("label_env")))
    else:
        lines.append("OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: not set; NumPy runs as users "
                     "have it (%s kernels)" % (nb.get("users_kernels") or "its own"))
    st = res["settings"]
    thr = ",".join(map(str, st["threads"]))
    if m.get("threadpoolctl"):
        pin = ("NumPy's BLAS pinned to the same count with threadpoolctl (in this process%s)"
               % (" and in the worker" if nb.get("measured_as_users") else ""))
    else:
        pin = ("NumPy's BLAS NOT pinned: threadpoolctl is not installed, so NumPy runs on its "
               "own thread count at every setting (pip install 'fastdense[bench]')")
    lines.append("threads: %s -- fastdense.set_num_threads(n); %s" % (thr, pin))
    other_env = {k: v for k, v in m.get("env", {}).items() if k not in oenv}
    if other_env:
        lines.append("environment: " + " ".join("%s=%s" % kv for kv in other_env.items()))
    if m.get("loadavg_at_start"):
        end = m.get("loadavg_at_end")
        # only the start counts: by the end the bench's own threads have
        # raised the 1-minute average (2 threads running -> about 1 or more)
        busy = m["loadavg_at_start"][0] > 0.5 * m["usable_cores"]
        lines.append("load average (1 min) at start %.2f%s, %d cores%s" % (
            m["loadavg_at_start"][0],
            (", at end %.2f (the bench's own threads count)" % end[0]) if end else "",
            m["usable_cores"],
            "  -- BUSY MACHINE: other processes shared the cores, timings are noisy"
            if busy else ""))
    loads = [l for l in res.get("loadavg", []) if l.get("load1") is not None]
    if loads:
        lines.append("load average when each thread count started: " + ", ".join(
            "%d thr: %.2f" % (l["threads"], l["load1"]) for l in loads))
    lines.append("settings: threads %s, repeats %d, min sample %.3f s, settle %.3f s "
                 "(1 thread: %.3f s), sizes %s"
                 % (thr, st["repeats"], st["min_time"], st["settle"],
                    st.get("settle_1thread", st["settle"]), st["sizes"]))
    for note in res.get("notes", []):
        lines.append("note: " + note)


# ---------------------------------------------------------------------------
# the sections
# ---------------------------------------------------------------------------

def _kernels(res, lines):
    if not res.get("kernels"):
        return
    nb = res.get("numpy_blas", {})
    two = any("numpy_env_s" in r for r in res["kernels"])
    lines.append("")
    lines.append("Kernels: median time per call; ratio = NumPy time / fastdense time "
                 "(> 1: fastdense faster)")
    lines.append("(best = the same ratio from each side's fastest sample: less "
                 "sensitive to other processes' load)")
    if two:
        lines.append("numpy = %s, in the worker; np env / r env = %s, this process. Only "
                     "the GEMM rows use the BLAS; the other kernels' NumPy side is the same "
                     "either way and runs here." % (nb.get("label_users"), nb.get("label_env")))
    cols = ("%3s  %-18s %-40s %10s %10s %7s %6s" + (" %10s %7s" if two else "")
            + " %8s %8s %6s %6s")
    head = ["thr", "kernel", "shape", "fastdense", "numpy", "ratio", "best"]
    head += ["np env", "r env"] if two else []
    head += ["fd GF/s", "np GF/s", "%BLAS", "%peak"]
    hdr = cols % tuple(head)
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for r in res["kernels"]:
        shape = r["shape"] + ("" if r["layout"] == "C" else " [F]")
        g = lambda k, f="%.1f": (f % r[k]) if k in r else ""   # noqa: E731
        row = [r["threads"], r["kernel"], shape[:40], fmt_time(r["fastdense_s"]),
               fmt_time(r["numpy_s"]), fmt_ratio(r["ratio"]), fmt_ratio(r.get("ratio_of_mins"))]
        if two:
            row += ([fmt_time(r["numpy_env_s"]), fmt_ratio(r["ratio_env"])]
                    if "numpy_env_s" in r else ["", ""])
        row += [g("fastdense_gflops"), g("numpy_gflops"), g("pct_of_blas", "%.0f"),
                g("pct_of_blas_peak", "%.0f")]
        lines.append(cols % tuple(row))
    for p in res.get("blas_peak", []):
        lines.append("BLAS peak (%s): NumPy %s at %.1f GFLOP/s%s" % (
            _plural(p["threads"]), p["shape"], p["gflops"],
            ("; as the environment sets it %.1f GFLOP/s" % p["gflops_env"])
            if "gflops_env" in p else ""))


def _spin(res, lines):
    for sp in res.get("spin", []):
        lines.append("spin (%d threads, %s): fastdense right after NumPy %s vs after %.1f s "
                     "quiet %s (%.2fx); NumPy right after fastdense %s vs %s (%.2fx)" % (
                         sp["threads"], sp["shape"],
                         fmt_time(sp["fastdense"]["after_other_s"]), sp["quiet_s"],
                         fmt_time(sp["fastdense"]["after_quiet_s"]),
                         sp["fastdense"]["slowdown"],
                         fmt_time(sp["numpy"]["after_other_s"]),
                         fmt_time(sp["numpy"]["after_quiet_s"]), sp["numpy"]["slowdown"]))


def _scaling(res, lines):
    sc = res.get("scaling")
    if not sc:
        return
    n = sc["threads"]
    lines.append("")
    lines.append("Thread scaling of the training step's products: time at 1 thread / time "
                 "at %d (fastdense as fit calls it; NumPy's np.dot%s%s)" % (
                     n, "" if sc["numpy_pinned"] else ", BLAS threads not pinned",
                     ", in the worker: %s" % res.get("numpy_blas", {}).get("label_users")
                     if sc.get("numpy_where") == "worker" else ""))
    lines.append("(best = the same ratio from each side's fastest samples)")
    hdr = "  %-24s %-26s %10s %10s %6s %6s %10s %10s %6s %6s" % (
        "product", "shape", "fd 1 thr", "fd %d thr" % n, "ratio", "best", "np 1 thr",
        "np %d thr" % n, "ratio", "best")
    lines.append(hdr)
    ratio = lambda x: "" if x is None else "%.2fx" % x   # noqa: E731
    for r in sc["products"]:
        lines.append("  %-24s %-26s %10s %10s %6s %6s %10s %10s %6s %6s" % (
            r["role"][:24], r["shape"], fmt_time(r["fastdense_1_s"]),
            fmt_time(r["fastdense_n_s"]), ratio(r["fastdense_scaling"]),
            ratio(r.get("fastdense_scaling_best")),
            fmt_time(r["numpy_1_s"]), fmt_time(r["numpy_n_s"]),
            ratio(r["numpy_scaling"]), ratio(r.get("numpy_scaling_best"))))
    for name, t in sc["step"].items():
        lines.append("  %-51s %10s %10s %6s %6s %10s %10s %6s" % (
            name + " together", fmt_time(t["fastdense_1_s"]), fmt_time(t["fastdense_n_s"]),
            ratio(t["fastdense_scaling"]), "", fmt_time(t.get("numpy_1_s", float("nan"))),
            fmt_time(t.get("numpy_n_s", float("nan"))), ratio(t.get("numpy_scaling"))))
    lines.append("  (the same six products timed in C, without Python's call: "
                 "tests_c/gemm_scaling.c)")


def _training(res, lines):
    preds = {p["threads"]: p for p in res.get("predict", [])}
    for tr in res.get("training", []):
        pr = preds.get(tr["threads"], {"contenders": {}, "rows": 0})
        lines.append("")
        n_ep = len(next(iter(tr["contenders"].values()))["epoch_times"]) if tr["contenders"] \
            else 0
        lines.append("Training, %s: seconds per epoch (median of %d epoch(s); %d images, "
                     "batch %d), predict on the %d test images, test accuracy after %d "
                     "epoch%s; 'vs fd-c' = time / fastdense-c's time" % (
                         _plural(tr["threads"]), n_ep, tr["samples"], tr["batch_size"],
                         pr["rows"], tr["epochs"], "" if tr["epochs"] == 1 else "s"))
        width = max([len(contender_label(n, res)) for n in tr["contenders"]] + [24])
        fmt = "  %-" + str(width) + "s %12s %8s %12s %8s  %s"
        lines.append(fmt % ("contender", "s/epoch", "vs fd-c", "predict", "vs fd-c",
                            "test accuracy"))
        for name, c in tr["contenders"].items():
            p = pr["contenders"].get(name, {})
            lines.append(fmt % (
                contender_label(name, res), "%.3f s" % c["seconds_per_epoch"],
                fmt_ratio(c.get("vs_fastdense_c")) if "vs_fastdense_c" in c else "",
                fmt_time(p["seconds"]) if p else "", fmt_ratio(p.get("vs_fastdense_c"))
                if "vs_fastdense_c" in p else "",
                ("%.4f" % c["test_accuracy"]) if "test_accuracy" in c else ""))
        for name, why in tr["skipped"].items():
            lines.append("  %s: %s" % (name, why))


def _imdb(res, lines):
    runs = res.get("imdb") or []
    info = res.get("imdb_data")
    if not runs and not res.get("imdb_skipped"):
        return
    lines.append("")
    lines.append("IMDB-shaped bag of words: the book's network (Dense 16 relu on 10,000 "
                 "inputs, Dense 16 relu, Dense 1 sigmoid; rmsprop, binary cross-entropy, "
                 "batch 512); fastdense trains from a scipy.sparse CSR matrix, NumPy from "
                 "the dense float32 array; each contender in its own process")
    if info:
        lines.append("  data: %d training + %d held-out reviews x %d words (generated: Zipf "
                     "words, hidden linear rule + noise), %.2f%% set (%.0f words per review); "
                     "training input %s dense float32, %s as CSR" % (
                         info["rows"], info.get("test_rows", info["rows"]), info["words"],
                         100 * info["density"], info["mean_words_per_review"],
                         fmt_bytes(info["dense_float32_bytes"]), fmt_bytes(info["csr_bytes"])))
    for run in runs:
        lines.append("  IMDB, %s: seconds per epoch (median of %d), held-out accuracy after "
                     "%d epoch%s, peak memory (RSS) of the contender's process" % (
                         _plural(run["threads"]), run["epochs"], run["epochs"],
                         "" if run["epochs"] == 1 else "s"))
        width = max([len(contender_label(n, res)) for n in run["contenders"]] + [24])
        fmt = "    %-" + str(width) + "s %10s %8s %9s  %s"
        if run["contenders"]:
            lines.append(fmt % ("contender", "s/epoch", "vs fd", "accuracy", "memory"))
        for name, c in run["contenders"].items():
            lines.append(fmt % (
                contender_label(name, res), fmt_time(c["seconds_per_epoch"]),
                fmt_ratio(c["vs_fastdense"]) if "vs_fastdense" in c else "",
                "%.4f" % c["test_accuracy"],
                "peak %s (inputs, train + held-out: %s; the process after its imports: %s)"
                % (fmt_bytes(c["peak_rss_bytes"]), fmt_bytes(c["input_bytes"]),
                   fmt_bytes(c["baseline_rss_bytes"]))))
        for name, why in run["skipped"].items():
            lines.append("    %s: %s" % (name, why))
    for name, why in (res.get("imdb_skipped") or {}).items():
        if not any(name in r["skipped"] for r in runs):
            lines.append("  %s: %s" % (name, why))


def format_report(res):
    lines = []
    _header(res, lines)
    _kernels(res, lines)
    _spin(res, lines)
    _scaling(res, lines)
    _training(res, lines)
    _imdb(res, lines)
    for t in res.get("skipped_sections", []):
        lines.append("skipped: " + t)
    slower = res.get("slower_than_numpy", [])
    lines.append("")
    if slower:
        lines.append("fastdense slower than NumPy (ratio < 1): " + "; ".join(slower))
    elif res.get("kernels") or res.get("training") or res.get("imdb"):
        lines.append("fastdense slower than NumPy: nowhere in this run")
    return "\n".join(lines)


def slower(res):
    """Where fastdense lost, against the figures that count (NumPy as users have it)."""
    out = []
    for r in res.get("kernels", []):
        if r["ratio"] < 1.0:
            out.append("%s (%d thr) %.2fx" % (r["name"], r["threads"], r["ratio"]))
    others = (C.FASTDENSE_NUMPY, C.SCRIPT, C.TORCH)
    for tr in res.get("training", []):
        c = tr["contenders"]
        if C.FASTDENSE_C in c:
            fd = c[C.FASTDENSE_C]["seconds_per_epoch"]
            for other in others:
                if other in c and c[other]["seconds_per_epoch"] < fd:
                    out.append("training epoch vs %s (%d thr) %.2fx" % (
                        other, tr["threads"], c[other]["seconds_per_epoch"] / fd))
    for pr in res.get("predict", []):
        c = pr["contenders"]
        if C.FASTDENSE_C in c:
            for other in others:
                if other in c and c[other]["vs_fastdense_c"] < 1.0:
                    out.append("predict vs %s (%d thr) %.2fx" % (
                        other, pr["threads"], c[other]["vs_fastdense_c"]))
    for run in res.get("imdb") or []:
        c = run["contenders"]
        if C.IMDB_FASTDENSE in c and C.IMDB_NUMPY in c and c[C.IMDB_NUMPY]["vs_fastdense"] < 1:
            out.append("IMDB epoch vs %s (%d thr) %.2fx" % (
                C.IMDB_NUMPY, run["threads"], c[C.IMDB_NUMPY]["vs_fastdense"]))
    return out


def write_json(res, path):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with atomic_file(path, "w", durable=False) as f:
        json.dump(res, f, indent=1, allow_nan=True)


def write_chart(res, path):
    """A PNG: kernel ratios per thread count, and seconds per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    kern = res.get("kernels", [])
    train = res.get("training", [])
    threads = sorted({r["threads"] for r in kern} | {t["threads"] for t in train})
    names = list(dict.fromkeys(r["name"] for r in kern))
    nplots = (1 if kern else 0) + (1 if train else 0)
    if not nplots:
        return False
    heights = ([max(3, 0.25 * len(names))] if kern else []) + ([3] if train else [])
    fig, axes = plt.subplots(nplots, 1, figsize=(11, sum(heights) + 1),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    ax_i = 0
    nb = res.get("numpy_blas", {})
    if kern:
        ax = axes[ax_i][0]
        ax_i += 1
        width = 0.8 / max(1, len(threads))
        for j, t in enumerate(threads):
            by = {r["name"]: r["ratio"] for r in kern if r["threads"] == t}
            ys = [i + j * width for i in range(len(names))]
            ax.barh(ys, [by.get(n, 0) for n in names], height=width,
                    label="%d thread%s" % (t, "" if t == 1 else "s"))
        ax.axvline(1.0, color="k", lw=1)
        ax.set_xscale("log")
        ax.set_yticks([i + 0.4 - width / 2 for i in range(len(names))])
        ax.set_yticklabels(names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("NumPy time / fastdense time (> 1: fastdense faster); %s"
                      % nb.get("label_users", "NumPy"))
        ax.legend(fontsize=8)
        ax.set_title("fastdense kernels vs NumPy -- %s, %s" % (
            res["machine"].get("cpu_text", res["machine"]["cpu"]), res["machine"]["simd"]),
            fontsize=9)
    if train:
        ax = axes[ax_i][0]
        cnames = list(dict.fromkeys(n for t in train for n in t["contenders"]))
        width = 0.8 / max(1, len(train))
        for j, t in enumerate(train):
            xs = [i + j * width for i in range(len(cnames))]
            ax.bar(xs, [t["contenders"].get(n, {}).get("seconds_per_epoch", 0)
                        for n in cnames], width=width,
                   label="%d thread%s" % (t["threads"], "" if t["threads"] == 1 else "s"))
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(cnames))])
        ax.set_xticklabels(cnames, fontsize=7, rotation=20)
        ax.set_ylabel("seconds per epoch")
        ax.legend(fontsize=8)
        ax.set_title("MNIST training epoch (60,000 images, batch 128)", fontsize=9)
    fig.tight_layout()
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
