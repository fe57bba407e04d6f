"""``fastdense bench``: the parser, the run that puts the sections together, main.

``run(args)`` returns the result dict (the JSON); ``main(argv)`` parses,
runs, prints the report and writes the JSON and the chart.  The order of a
run: the machine; the NumPy worker when the environment sets
OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (``worker.py``); the IMDB contenders'
processes; then, at each thread count, the kernels (with the BLAS peak and
the spin probe), the MNIST training and predict, the IMDB epochs; last, the
thread scaling of the step's products.
"""
import argparse
import contextlib
import datetime
import importlib.util
import os
import sys

from .. import _config
from . import cases as _cases
from . import contenders as C
from . import data as _data
from . import report as _report
from . import sections as S
from .machine import (OPENBLAS_LOAD_VARS, describe_blas, have_threadpoolctl, kernel_family,
                      load1, machine_info)
from .timing import Threads, spin_probe

SCHEMA = "fastdense-bench/2"
DEFAULT_JSON = os.path.join("bench-results", "bench.json")
#: MNIST rows (train, test) with --sizes small
SMALL_MNIST = (4096, 1000)


def _parse_threads(text):
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--threads takes whole numbers like 1,2")
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError("--threads takes whole numbers >= 1 like 1,2")
    return list(dict.fromkeys(vals))


def _positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1, got %d" % v)
    return v


def build_parser():
    ap = argparse.ArgumentParser(
        prog="fastdense bench",
        description="fastdense against NumPy, kernel by kernel and epoch by epoch, "
                    "interleaved in one run at equal thread counts. Where the environment "
                    "sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE, NumPy is also measured in a "
                    "worker process without them (NumPy as users have it), and ratios use "
                    "that figure.",
        epilog="Spinning threads: OpenBLAS's and libgomp's workers busy-wait after each "
               "call; the 'spin' line measures what that costs the other library. To "
               "change it, use --settle S, or run under OMP_WAIT_POLICY=passive (fastdense's "
               "OpenMP threads sleep at once) and/or OPENBLAS_THREAD_TIMEOUT=4 (OpenBLAS's "
               "workers sleep sooner); the environment in force is printed with the machine.")
    cores = _config._usable_cores()
    ap.add_argument("--threads", type=_parse_threads, default=None,
                    help="thread counts to run at, e.g. 1,2 (default: 1 and all %d usable "
                         "cores)" % cores)
    ap.add_argument("--quick", action="store_true",
                    help="seconds-long run: 3 repeats, short samples, seed shapes, 1 epoch")
    ap.add_argument("--full", action="store_true",
                    help="train 5 epochs (the accuracy target: >= 0.976)")
    ap.add_argument("--epochs", type=_positive, default=None,
                    help="MNIST epochs per contender (default 1)")
    ap.add_argument("--train-repeats", type=_positive, default=None,
                    help="fresh trainings per contender (default 3, 1 with --quick/--full)")
    ap.add_argument("--repeats", type=_positive, default=None,
                    help="samples per kernel and side (default 7, 3 with --quick)")
    ap.add_argument("--min-time", type=float, default=None,
                    help="seconds per sample (default 0.05, 0.01 with --quick)")
    ap.add_argument("--sizes", choices=("small", "seed", "all"), default=None,
                    help="kernel shapes: small (smoke test: toy kernels, and %d + %d MNIST "
                         "images, %d + %d IMDB reviews), seed (the network's), all (seed + "
                         "sizes around; default, seed with --quick)" % (
                             SMALL_MNIST + _data.IMDB_ROWS["small"]))
    ap.add_argument("--kernels-only", action="store_true",
                    help="skip training, predict and IMDB")
    ap.add_argument("--no-kernels", action="store_true", help="skip the kernel table")
    ap.add_argument("--no-mnist", action="store_true",
                    help="skip the MNIST training and predict rows")
    ap.add_argument("--no-imdb", action="store_true", help="skip the IMDB rows")
    ap.add_argument("--imdb-epochs", type=_positive, default=None,
                    help="IMDB epochs per contender (default 4, the book's; 1 with --quick)")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--no-scaling", action="store_true",
                    help="skip the thread-scaling table of the step's products")
    ap.add_argument("--no-users-numpy", action="store_true",
                    help="do not measure NumPy in a worker without OPENBLAS_CORETYPE / "
                         "OPENBLAS_L2_SIZE (then every NumPy figure is the environment's)")
    ap.add_argument("--settle", type=float, default=None,
                    help="sleep this long before each sample so the other library's "
                         "spinning threads go idle (default 0.15 s at more than one "
                         "thread, 0 at one thread and with --quick unless the NumPy "
                         "worker runs too: OpenBLAS's workers spin ~0.1 s after a call "
                         "and would steal the cores from the sample that follows)")
    ap.add_argument("--settle-probe", type=float, default=0.3,
                    help="quiet time for the spin probe (default 0.3 s)")
    ap.add_argument("--no-spin-probe", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=DEFAULT_JSON, help="JSON output (default %(default)s)")
    ap.add_argument("--chart", default=None,
                    help="PNG chart (default: the JSON path with .png; needs matplotlib)")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap


def settle_for(args, nthreads, worker=False):
    """Seconds of quiet before each sample: --settle, else 0.15 s when more
    than one thread runs (with --quick: only when a NumPy worker runs too),
    else 0.

    OpenBLAS's pool threads busy-wait about 0.1 s after each call.  In one
    process, one pool spins into the next sample; with the NumPy worker, the
    worker's pool and this process's can both still be spinning when
    fastdense's sample starts, and on a 2-core machine that takes every core
    (samples of tens of microseconds then last milliseconds).  So --quick
    skips the quiet time only where there is a single NumPy.
    """
    if args.settle is not None:
        return args.settle
    if nthreads > 1 and (worker or not args.quick):
        return 0.15
    return 0.0


def _numpy_blas(machine, args, need_worker, log, stack):
    """Which NumPy the figures are; start the worker when the environment's
    OpenBLAS variables make this process's NumPy not the users' one.

    Returns (description dict for the JSON, the worker or None).
    """
    from .worker import Worker, WorkerError
    oenv = machine["openblas_env"]
    env_k = machine.get("blas_kernels")
    nb = {"openblas_env": oenv, "measured_as_users": False, "env_kernels": env_k,
          "users_kernels": None if oenv else env_k, "why_not": None}
    worker = None
    if oenv and args.no_users_numpy:
        nb["why_not"] = "--no-users-numpy"
    elif oenv and not need_worker:
        nb["why_not"] = "no section of this run measures NumPy's BLAS"
    elif oenv:
        log("NumPy as users have it: starting a worker without %s" % ", ".join(oenv))
        try:
            worker = stack.enter_context(Worker("NumPy (as users have it)",
                                                remove=OPENBLAS_LOAD_VARS))
        except WorkerError as exc:
            nb["why_not"] = "the worker process failed: %s" % str(exc).strip().splitlines()[-1]
        else:
            info = worker.info
            if info["openblas_env"]:
                raise RuntimeError("the NumPy worker still has %s" % info["openblas_env"])
            nb.update({"measured_as_users": True, "worker_pid": info["pid"],
                       "worker_openblas_env": info["openblas_env"],
                       "users_blas": info["blas"], "users_blas_text": describe_blas(
                           info["blas"]), "users_kernels": kernel_family(info["blas"])})
    kern = lambda k: "%s kernels" % k if k else "kernel family unknown"   # noqa: E731
    nb["label_env"] = "NumPy (as the environment sets it: %s)" % kern(env_k)
    nb["label_users"] = "NumPy as users have it (%s)" % kern(nb["users_kernels"])
    return nb, worker


def run(args, log=print):
    """Run the benchmark for parsed args; returns the result dict."""
    with contextlib.ExitStack() as stack, C.sparse_mode_restored():
        return _run(args, log, stack)


def _run(args, log, stack):
    cores = _config._usable_cores()
    threads = args.threads or list(dict.fromkeys([1, cores]))
    repeats = args.repeats or (3 if args.quick else 7)
    min_time = args.min_time if args.min_time is not None else (0.01 if args.quick else 0.05)
    sizes = args.sizes or ("seed" if args.quick else "all")
    epochs = args.epochs or (5 if args.full else 1)
    train_repeats = args.train_repeats or (1 if (args.quick or args.full) else 3)
    imdb_epochs = args.imdb_epochs or (1 if args.quick else 4)
    machine = machine_info()
    res = {"schema": SCHEMA,
           "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": ["fastdense", "bench"] + list(getattr(args, "_argv", [])),
           "machine": machine,
           "settings": {"threads": threads, "repeats": repeats, "min_time": min_time,
                        "settle": None, "settle_1thread": settle_for(args, 1),
                        "sizes": sizes, "epochs": epochs, "imdb_epochs": imdb_epochs,
                        "train_repeats": train_repeats, "quick": bool(args.quick)},
           "notes": [], "kernels": [], "blas_peak": [], "spin": [], "training": [],
           "predict": [], "imdb": [], "scaling": None, "skipped_sections": []}
    notes = res["notes"]
    if not have_threadpoolctl():
        notes.append("threadpoolctl is not installed: NumPy's BLAS threads cannot be "
                     "pinned, so NumPy runs on its own thread count at every setting, and "
                     "the BLAS's kernel family cannot be named (pip install "
                     "'fastdense[bench]')")
    if max(threads) > cores:
        notes.append("more threads (%d) than usable cores (%d)" % (max(threads), cores))
    c_ok = _config.c_available()
    if not c_ok:
        notes.append("the C extension is not loaded (%s): fastdense runs on NumPy, so the "
                     "kernel table is skipped" % _config.c_error())
    data = None
    mnist_spec = SMALL_MNIST if sizes == "small" else None
    if not (args.kernels_only or args.no_mnist):
        try:
            data = _data.load_mnist(mnist_spec)
        except Exception as exc:
            res["skipped_sections"].append(
                "training and predict: MNIST could not be loaded (%s: %s); set "
                "FASTDENSE_DATA to a folder holding mnist/" % (type(exc).__name__, exc))
        else:
            try:
                from .. import models  # noqa: F401
            except Exception as exc:
                res["skipped_sections"].append("training: fastdense.models unavailable "
                                                "(%s: %s)" % (type(exc).__name__, exc))
                data = None
    cases = _cases.kernel_cases(sizes) if (c_ok and not args.no_kernels) else []
    nb, users = _numpy_blas(machine, args, bool(cases) or data is not None, log, stack)
    res["numpy_blas"] = nb
    res["settings"]["settle"] = settle_for(args, 2, users is not None)
    sparse_rows = C.sparse_modes_available()
    res["sparse_modes"] = sparse_rows

    imdb_run = None
    if not (args.kernels_only or args.no_imdb):
        gate = C.sparse_fit_support()
        res["imdb_gate"] = {"fit_takes_scipy_sparse": gate[0], "why_not": gate[1]}
        names, res["imdb_skipped"] = S.imdb_contenders(gate)
        rows = _data.IMDB_ROWS["small"][0] if sizes == "small" else None
        remove = () if args.no_users_numpy else OPENBLAS_LOAD_VARS
        imdb_run = S.ImdbRun(names, rows, args.seed, remove, log)
        stack.callback(imdb_run.close)
        res["imdb_skipped"].update(imdb_run.failed)
        if not imdb_run.workers:
            imdb_run = None
    res["loadavg"] = []
    for n in threads:
        res["loadavg"].append({"threads": n, "load1": load1()})
        workers = [users] + (list(imdb_run.workers.values()) if imdb_run else [])
        settle = settle_for(args, n, users is not None)
        with Threads(n, workers):
            if cases:
                log("kernels at %d thread%s (%d cases)" % (n, "" if n == 1 else "s",
                                                           len(cases)))
                peak = S.blas_peak(n, 256 if sizes == "small" else
                                   1024 if args.quick else 2048, users, settle)
                res["blas_peak"].append(peak)
                res["kernels"] += S.run_kernels(cases, n, repeats, min_time, settle,
                                                peak["gflops"], log, users)
                if n > 1 and not (args.no_spin_probe or sizes == "small"):
                    res["spin"].append(spin_probe(n, quiet=args.settle_probe))
            if data is not None:
                log("training at %d thread%s: %d epoch%s x %d repeat%s" % (
                    n, "" if n == 1 else "s", epochs, "" if epochs == 1 else "s",
                    train_repeats, "" if train_repeats == 1 else "s"))
                tr, pr = S.run_training(n, epochs, train_repeats, args.seed, data,
                                        not args.no_torch, repeats, min_time, log,
                                        settle=settle, users=users,
                                        mnist_spec=mnist_spec, sparse_rows=sparse_rows)
                res["training"].append(tr)
                res["predict"].append(pr)
            if imdb_run is not None:
                log("IMDB at %d thread%s: %d epoch%s" % (
                    n, "" if n == 1 else "s", imdb_epochs, "" if imdb_epochs == 1 else "s"))
                # two processes, two thread pools: always the quiet time of a worker
                res["imdb"].append(S.run_imdb(imdb_run, n, imdb_epochs, log,
                                              settle=settle_for(args, n, True)))
    if cases and max(threads) > 1 and not args.no_scaling:
        nmax = max(threads)
        log("thread scaling: the step's products at 1 and %d threads" % nmax)
        res["scaling"] = S.run_scaling(nmax, repeats, min_time,
                                       settle_for(args, nmax, users is not None), log,
                                       _cases.SMALL_STEP_PRODUCTS if sizes == "small"
                                       else _cases.STEP_PRODUCTS, users=users)
    for run_ in res["imdb"]:
        for rec in run_["contenders"].values():
            res.setdefault("imdb_data", dict(rec["data"], test_rows=rec["data"]["rows"]))
    try:
        res["machine"]["loadavg_at_end"] = list(os.getloadavg())
    except (AttributeError, OSError):
        pass
    for sp in res["spin"]:
        worst = max(sp["fastdense"]["slowdown"], sp["numpy"]["slowdown"])
        if worst > 1.1:
            notes.append("spinning threads: at %d threads a library called right after "
                         "the other ran up to %.2fx slower than after %.1f s quiet (see "
                         "'spin'); --settle S or OMP_WAIT_POLICY=passive / "
                         "OPENBLAS_THREAD_TIMEOUT=4 in the environment change this"
                         % (sp["threads"], worst, sp["quiet_s"]))
    res["slower_than_numpy"] = _report.slower(res)
    return res


def main(argv=None):
    """Entry point of ``fastdense bench`` (argv: the arguments after 'bench')."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = build_parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:          # --help or a usage error
        return int(exc.code or 0)
    args._argv = argv
    log = (lambda *a, **k: None) if args.quiet else (
        lambda *a, **k: print(*a, file=sys.stderr, flush=True, **k))
    res = run(args, log)
    print(_report.format_report(res))
    if args.json:
        _report.write_json(res, args.json)
        print("JSON written to %s" % args.json)
    if not args.no_chart:
        chart = args.chart or (os.path.splitext(args.json)[0] + ".png" if args.json else None)
        if chart:
            if importlib.util.find_spec("matplotlib") is None:
                print("matplotlib is not installed: no chart (pip install matplotlib)")
            else:
                try:
                    if _report.write_chart(res, chart):
                        print("chart written to %s" % chart)
                except Exception as exc:
                    print("chart not written: %s: %s" % (type(exc).__name__, exc))
    return 0
