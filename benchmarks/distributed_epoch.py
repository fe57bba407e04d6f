"""Epoch time of the seed network: 1 process x 2 threads against 2 MPI ranks x 1 thread.

    FASTDENSE_DATA=../shared/data python benchmarks/distributed_epoch.py [--json out.json]

The parent runs, interleaved ``--repeats`` times, three workers on MNIST
(60,000 images, Dense 512 relu + Dense 10 softmax, RMSprop, batch 128):

* ``single``:  ``python`` (a world of one), 2 threads;
* ``mpi``:     ``mpiexec -n 2``, 1 thread per rank, one in-place Allreduce per step;
* ``overlap``: the same, but an experiment: each layer's gradient is summed by its
  own ``Iallreduce`` started as soon as the backward pass has produced it
  (communication overlapping the rest of the backward pass), all waited for
  before the update.

Each worker times every epoch (the first one, which builds the input form
and warms the caches, is left out of the medians).  The MPI workers also
time the gradient sum inside the steps, and a bare Allreduce of the same
1.6 MB vector and of 16 bytes (the latency) outside training.  The report
gives medians over repeats; the machine is shared, so compare the ratios
of interleaved runs, not absolute times.  The lead can hook this into
``fastdense bench`` (``run(...)`` returns the result dictionary).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)


# ---- the worker -------------------------------------------------------------------------

def _overlapped_step(trainer_cls, MPI):
    """Trainer.step with one Iallreduce per layer started during the backward pass
    (an experiment).  It runs the engine's own step: each trainable layer's
    backward is wrapped to start the reduction of its gradient segment as soon
    as it returns, and the step's blocking gradient sum becomes a wait for
    those requests."""
    original_step = trainer_cls.step

    def step(self, rows, start, stop, update=True, batch_row=0):
        if not update:
            return original_step(self, rows, start, stop, update, batch_row=batch_row)
        segment = {id(l): self.segments[j][1] for j, l in enumerate(self.store.layers)}
        requests, wrapped = [], []
        for node in self.nodes:
            if not node.trainable:
                continue
            layer, seg = node.layer, segment[id(node.layer)]

            def backward(*args, _backward=layer.backward, _seg=seg, **kwargs):
                _backward(*args, **kwargs)
                requests.append(self.comm.comm.Iallreduce(MPI.IN_PLACE, [_seg, MPI.FLOAT],
                                                          op=MPI.SUM))
            layer.backward = backward
            wrapped.append(layer)
        self.comm.reduce_gradients = lambda flat: MPI.Request.Waitall(requests)
        try:
            return original_step(self, rows, start, stop, update, batch_row=batch_row)
        finally:
            del self.comm.reduce_gradients
            for layer in wrapped:
                del layer.backward

    return step


def worker(args):
    import numpy as np
    import fastdense
    import fastdense.distributed as dist
    dist.init()
    fastdense.set_num_threads(args.threads)
    from fastdense import callbacks, layers, models, utils
    from fastdense.datasets import mnist
    (x, y), _ = mnist.load_data()
    x = x.reshape(60000, 784).astype(np.float32) / 255
    y = utils.to_categorical(y, 10)
    utils.set_random_seed(1)
    net = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                             layers.Dense(10, activation="softmax")])
    net.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    result = {"mode": args.mode, "ranks": dist.size(), "threads": fastdense.get_num_threads()}
    sums = {"seconds": 0.0, "calls": 0}
    if dist.size() > 1:
        from fastdense.distributed import CallComm
        MPI = dist._W.MPI
        original = CallComm.reduce_gradients

        def timed(self, flat):
            t = time.perf_counter()
            original(self, flat)
            sums["seconds"] += time.perf_counter() - t
            sums["calls"] += 1
        CallComm.reduce_gradients = timed
        if args.mode == "overlap":
            from fastdense.engine import training
            training.Trainer.step = _overlapped_step(training.Trainer, MPI)
        n_flat = sum(-(-l.param_buffer.size // 16) * 16 for l in net.layers)
        result["gradient_bytes"] = 4 * n_flat
        for name, count in (("allreduce_gradient_ms", n_flat), ("allreduce_16B_us", 4)):
            buf = np.ones(count, np.float32)
            times = []
            for _ in range(args.allreduce_reps):
                dist.barrier()
                t = time.perf_counter()
                dist._W.comm.Allreduce(MPI.IN_PLACE, [buf, MPI.FLOAT], op=MPI.SUM)
                times.append(time.perf_counter() - t)
            scale = 1e3 if name.endswith("ms") else 1e6
            result[name] = statistics.median(times) * scale
    epoch_times = []

    class Clock(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_times.append(time.perf_counter() - self.t)

    h = net.fit(x, y, batch_size=128, epochs=args.epochs, verbose=0, callbacks=[Clock()])
    result["epoch_seconds"] = epoch_times
    result["loss"] = h.history["loss"]
    steps = 469 * args.epochs
    if sums["calls"]:
        result["gradient_sum_ms_per_step"] = sums["seconds"] / sums["calls"] * 1e3
    result["steps"] = steps
    if dist.is_main():
        print("RESULT " + json.dumps(result), flush=True)


# ---- the parent ---------------------------------------------------------------------------

def _mpiexec(explicit=None):
    exe = explicit or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(exe):
        exe = shutil.which("mpiexec")
    if not exe:
        raise SystemExit("no mpiexec: pip install 'fastdense[mpi]'")
    text = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    cmd = [exe]
    if "Open MPI" in text:
        cmd += ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    return cmd


def _launch(cmd, timeout):
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTDENSE_NUM_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), proc.returncode,
                                                     proc.stdout[-2000:], proc.stderr[-2000:]))


def run(repeats=3, epochs=3, modes=("single", "mpi", "overlap"), mpiexec=None,
        timeout=1800):
    """Interleaved runs of every mode; returns {mode: [worker results]}."""
    launcher = _mpiexec(mpiexec)
    runs = {m: [] for m in modes}
    for _ in range(repeats):
        for mode in modes:
            base = [sys.executable, HERE, "--worker", mode, "--epochs", str(epochs)]
            if mode == "single":
                cmd = base + ["--threads", "2"]
            else:
                cmd = launcher + ["-n", "2"] + base + ["--threads", "1"]
            runs[mode].append(_launch(cmd, timeout))
    return runs


def report(runs):
    def epoch(r):          # the median epoch after the first
        rest = r["epoch_seconds"][1:] or r["epoch_seconds"]
        return statistics.median(rest)
    rows = []
    single = statistics.median(epoch(r) for r in runs["single"]) if "single" in runs else None
    for mode, rs in runs.items():
        t = statistics.median(epoch(r) for r in rs)
        row = {"mode": mode, "ranks": rs[0]["ranks"], "threads": rs[0]["threads"],
               "epoch_s": t, "step_ms": t / 469 * 1e3,
               "speedup_vs_single": (single / t) if single else None}
        for key in ("gradient_sum_ms_per_step", "allreduce_gradient_ms", "allreduce_16B_us",
                    "gradient_bytes"):
            if key in rs[0]:
                row[key] = statistics.median(r[key] for r in rs)
        rows.append(row)
    print("%-8s %5s %7s %9s %8s %8s %14s %13s %10s" % (
        "mode", "ranks", "threads", "epoch s", "step ms", "speedup", "grad sum ms/st",
        "allreduce ms", "16 B us"))
    for r in rows:
        print("%-8s %5d %7d %9.2f %8.2f %8.2f %14s %13s %10s" % (
            r["mode"], r["ranks"], r["threads"], r["epoch_s"], r["step_ms"],
            r["speedup_vs_single"] or 1.0,
            "%.3f" % r["gradient_sum_ms_per_step"] if "gradient_sum_ms_per_step" in r else "-",
            "%.3f" % r["allreduce_gradient_ms"] if "allreduce_gradient_ms" in r else "-",
            "%.1f" % r["allreduce_16B_us"] if "allreduce_16B_us" in r else "-"))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", choices=("single", "mpi", "overlap"), dest="mode")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--allreduce-reps", type=int, default=200)
    p.add_argument("--modes", default="single,mpi,overlap")
    p.add_argument("--mpiexec", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.mode:
        return worker(args)
    runs = run(args.repeats, args.epochs, tuple(args.modes.split(",")), args.mpiexec)
    rows = report(runs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
