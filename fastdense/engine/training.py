"""The training engine: the kernel step, the epoch loop, evaluate and predict.

One step on the seed network (Dense 512 relu, Dense 10 softmax, RMSprop) is
nothing but kernel calls on buffers allocated once per fit:
``sgemm``(+bias+relu, batch rows gathered while packing) -> ``sgemm``(+bias)
-> ``softmax_xent_f32`` (loss, (p-y)/N and correct rows in one pass) ->
``bias_grad_f32`` + ``sgemm`` (dW2) -> ``sgemm`` (dh) -> ``relu_backward_f32``
(+db1) -> ``sgemm`` (dW1, gathered) -> ``rmsprop_update_f32`` per layer.

* ``Trainer`` holds everything one fit needs (plan, workspace, flat
  gradients, data source, optimizer segments, regularizer penalties) and runs
  ``step``; ``train_on_batch`` uses the same object.
* ``batch_sums`` is the one routine that turns a batch's output into its
  loss sum and metric updates (and, when training, the loss gradient): fit,
  evaluate and test_on_batch all call it.
* ``run_fit`` is the epoch loop with one ``CallbackList``, the progress bar
  and validation.
* ``evaluate_arrays`` / ``predict_arrays`` run the inference plan over chunks.

Hooks for data-parallel training (``fastdense.distributed``) are the
``Comm`` methods a trainer calls: sum the flat gradient once per step, sum
the loss and metric states at the end of an epoch.  The default
``LocalComm`` does nothing.
"""
import math

import numpy as np

from .. import _config
from .. import callbacks as _callbacks
from .. import utils as _utils
from .._progress import Progbar
from .data import make_source
from .workspace import GradientStore, Plan, Workspace

__all__ = ["Context", "Trainer", "CallbackList", "LocalComm", "batch_sums", "run_fit",
           "evaluate_arrays", "predict_arrays", "PREDICT_CHUNK"]

_F32 = np.float32
PREDICT_CHUNK = 2048


class Context:
    """What layers see of the call: kernels, threads, mode, step counter."""
    __slots__ = ("K", "nthreads", "training", "step", "batch_row")

    def __init__(self, training):
        self.K = _config.kernels()
        self.nthreads = _config.get_num_threads()
        self.training = training
        self.step = 0
        self.batch_row = 0     # where this process's rows start in the global batch


class LocalComm:
    """A world of one: every reduction is the identity."""
    size = 1
    rank = 0
    is_main = True

    def global_batch(self, m):
        return m

    def reduce_gradients(self, flat):
        pass

    def reduce_sums(self, vector):
        return vector

    # ---- [distributed] the epoch loop's hooks (fastdense.distributed.CallComm) ----
    def schedule(self, n, batch_size):
        """(samples, steps per epoch) of the fit over this process's n rows."""
        return n, int(math.ceil(n / batch_size))

    batch_row = 0      # where local_rows' rows start in the global batch

    def local_rows(self, step, start, stop):
        """This process's rows of global batch ``step`` (rows start:stop)."""
        return start, stop

    def eval_rows(self, n):
        """This process's rows of an n-row evaluation."""
        return 0, n

    def any(self, flag):
        """The stop flag of all processes."""
        return bool(flag)

    def begin_fit(self, model, trainer, callbacks):
        """Fit start, after the optimizer state is built."""

    def end_epoch(self, model, trainer):
        """Epoch end, after the epoch's sums are reduced."""


class CallbackList:
    """The user's callbacks plus History, called in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        self.user = self.callbacks[:-1]      # History comes last
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.batch_hooks = bool(self.user)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        callbacks = self.user if "batch" in hook else self.callbacks

        def call(*args):
            for cb in callbacks:
                getattr(cb, hook)(*args)
        return call


def _metric_states(metrics):
    return [m.state_vector() for m in metrics]


def batch_sums(loss, metrics, fused, K, nthreads, out, target, weights=None, grad=None,
               probs=None, scale=1.0):
    """Loss sum of one batch (and its gradient into ``grad``); metrics updated.

    ``out`` is the last layer's output (logits when ``fused``).  With
    per-sample ``weights`` the loss is sum(w_i l_i) and metrics are weighted
    means, as Keras computes them.
    """
    m = len(out)
    correct = None
    kw = {} if weights is None else {"weights": weights}
    if fused:
        loss_sum, correct = loss.from_logits(K, out, target, grad=grad, probs=probs,
                                             scale=scale, nthreads=nthreads, **kw)
        y_pred = probs
    else:
        loss_sum = loss.forward_backward(out, target, grad, scale, **kw)
        y_pred = out
    for mt in metrics:
        if correct is not None and weights is None and mt.counts_correct_rows:
            mt.update_correct(correct, m)
        else:
            mt.update_state(y_pred, target, sample_weight=weights)
    return loss_sum


def _penalties(model, store=None):
    """[(regularizer, weight 2-D view, gradient 2-D view or None)] of the model."""
    out = []
    for layer in model.layers:
        regs = getattr(layer, "regularized", None)
        if regs is None:
            continue
        grads = store.grads_for(layer) if store is not None else None
        for index, reg in regs():
            w = layer.weights[index]
            g = grads[index] if grads is not None else None
            out.append((reg, w.reshape(1, -1), None if g is None else g.reshape(1, -1)))
    return out


def penalty_value(model, K, nthreads):
    """The regularization penalty of the current weights (no gradient)."""
    return float(sum(reg.penalty(K, w, nthreads) for reg, w, _ in _penalties(model)))


def _needs_probs(metrics, weighted):
    return any(weighted or not m.counts_correct_rows for m in metrics)


class Trainer:
    """One fit's worth of state: plan, buffers, gradients, source, optimizer."""

    def __init__(self, model, x, target, batch_size, weights=None, comm=None,
                 sparse_kernels=False):
        self.model = model
        self.comm = comm if comm is not None else LocalComm()
        self.ctx = Context(training=True)
        trainable = model._trainable_snapshot()
        self.plan = Plan(model, training=True, loss=model.loss, trainable=trainable)
        self.nodes = self.plan.nodes
        self.store = GradientStore([l for l in model._unique_layers()
                                    if id(l) in trainable])
        self.optimizer = model.optimizer
        self.loss = model.loss
        self.metrics = model.metrics
        self.target = target
        self.weights = weights
        rows = max(1, min(batch_size, len(target)))
        self.source = make_source(x, self.plan, rows, training=True,
                                  sparse_kernels=sparse_kernels)
        self.ws = Workspace(self.plan, rows, train=True, target_proto=target,
                            need_probs=_needs_probs(self.metrics, weights is not None),
                            gather_input=self.source.needs_buffer,
                            weights=weights is not None)
        # a frozen layer's penalty still counts in the loss, with no gradient;
        # [distributed] the penalty's gradient is added on rank 0 only (summed once)
        self.penalties = _penalties(model, self.store if self.comm.rank == 0 else None)
        self.segments = self.store.segments
        self.grads = [self.store.grads_for(n.layer) if n.trainable else None
                      for n in self.nodes]
        self._fwd = [self._forward_options(n) for n in self.nodes]
        self._bwd = [self._backward_options(i, n) for i, n in enumerate(self.nodes)]

    def _forward_options(self, node):
        return {"logits_only": True} if node.logits_only else {}

    def _backward_options(self, i, node):
        opts = {}
        if node.dy_is_dz:
            opts["dy_is_dz"] = True
        if node.bias_done:
            opts["bias_done"] = True
        if node.fuse_into_prev:
            prev = self.nodes[i - 1]
            g = self.store.grads_for(prev.layer) if prev.trainable else None
            opts["fuse_previous"] = True
            opts["prev_bias_grad"] = (g[1] if g is not None and len(g) > 1 else None)
        return opts

    def prepare(self):
        """Build the optimizer's state for the trainable parameters (once per fit)."""
        self.optimizer.build(self.store.n_params)

    def step(self, rows, start, stop, update=True, batch_row=0):
        """Forward, backward and update on rows ``rows`` (or ``start:stop``).

        Returns the batch's loss sum (penalty included, times the batch
        size, as Keras reports the mean of loss + penalty)."""
        ctx = self.ctx
        K, nt = ctx.K, ctx.nthreads
        m = stop - start
        outs, grads, extra, probs, tbuf, wbuf, bbuf = self.ws.view(m)
        x_in, r = self.source.batch(rows, start, stop, bbuf)
        if rows is None:
            tb = self.target[start:stop]
            wb = None if self.weights is None else self.weights[start:stop]
        else:
            tb = np.take(self.target, rows, axis=0, out=tbuf, mode="clip")
            wb = (None if self.weights is None
                  else np.take(self.weights, rows, out=wbuf, mode="clip"))
        ctx.step = self.optimizer.iterations
        ctx.batch_row = batch_row
        nodes = self.nodes
        inp = x_in
        for i, node in enumerate(nodes):
            if node.gathers:
                node.layer.forward(ctx, inp, outs[i], rows=r, ws=extra[i], **self._fwd[i])
            else:
                node.layer.forward(ctx, inp, outs[i], ws=extra[i], **self._fwd[i])
            inp = outs[i]
        last = len(nodes) - 1
        scale = 1.0 / self.comm.global_batch(m)
        loss_sum = batch_sums(self.loss, self.metrics, self.plan.fused, K, nt, outs[last],
                              tb, weights=wb, grad=grads[last], probs=probs, scale=scale)
        for i in range(last, -1, -1):
            node = nodes[i]
            layer_in = outs[i - 1] if i > 0 else x_in
            dx = grads[i - 1] if node.need_dx else None
            if node.gathers:
                node.layer.backward(ctx, layer_in, outs[i], grads[i], dx, self.grads[i],
                                    rows=r, ws=extra[i], **self._bwd[i])
            else:
                node.layer.backward(ctx, layer_in, outs[i], grads[i], dx, self.grads[i],
                                    ws=extra[i], **self._bwd[i])
        penalty = 0.0
        for reg, w, g in self.penalties:
            if g is None:
                penalty += reg.penalty(K, w, nt)
            else:
                penalty += reg.penalty_and_grad(K, w, g, nt)
        if update:
            self.comm.reduce_gradients(self.store.flat)
            self.optimizer.apply_segments(self.segments, K, nt)
        return loss_sum + penalty * m


def run_fit(model, trainer, epochs, batch_size, verbose, callbacks, val, shuffle,
            initial_epoch, val_weights=None, val_batch=None):
    """The epoch loop; returns the History."""
    n = trainer.source.n
    perm = np.arange(n, dtype=np.int64)
    rng = _utils.get_rng()
    comm = trainer.comm
    samples, steps = comm.schedule(n, batch_size)    # [distributed] global figures
    if not comm.is_main:                             # [distributed] rank 0 alone prints
        verbose = 0
    metrics = trainer.metrics
    names = [m.name for m in metrics]
    history = _callbacks.History()
    model.history = history
    params = {"batch_size": batch_size, "epochs": epochs, "steps": steps,
              "samples": samples, "verbose": verbose, "do_validation": val is not None,
              "metrics": model.metrics_names + (["val_" + k for k in model.metrics_names]
                                                if val is not None else [])}
    cbs = CallbackList(list(callbacks) + [history], model, params)
    model.stop_training = False
    trainer.prepare()
    comm.begin_fit(model, trainer, cbs)   # [distributed] rank 0's weights, agreed hooks
    cbs.on_train_begin({})
    batch_hooks = cbs.batch_hooks
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch, {})
        if verbose:
            print("Epoch %d/%d" % (epoch + 1, epochs))
        bar = Progbar(steps, verbose=verbose) if verbose else None
        if shuffle:
            rng.shuffle(perm)
        for mt in metrics:
            mt.reset_state()
        loss_total = 0.0
        weight_seen = 0
        for b in range(steps):
            start = b * batch_size
            stop = min(start + batch_size, samples)
            lo, hi = comm.local_rows(b, start, stop)   # [distributed] this rank's share
            m = hi - lo
            if batch_hooks:
                batch_logs = {"batch": b, "size": stop - start}
                cbs.on_train_batch_begin(b, batch_logs)
                states = [mt.state_vector() for mt in metrics]
            rows = perm[lo:hi] if shuffle else None
            loss_sum = trainer.step(rows, lo, hi, batch_row=comm.batch_row)
            loss_total += loss_sum
            weight_seen += m
            if batch_hooks:
                deltas = [mt.state_vector() - before for mt, before in zip(metrics, states)]
                # [distributed] the batch logs are the global batch's
                sums = comm.reduce_sums(np.concatenate([[loss_sum, m]] + deltas))
                batch_logs["loss"] = float(sums[0] / sums[1]) if sums[1] else float("nan")
                at = 2
                for mt, delta in zip(metrics, deltas):
                    after = mt.state_vector()
                    mt.set_state_vector(sums[at:at + delta.size])
                    at += delta.size
                    batch_logs[mt.name] = mt.result()
                    mt.set_state_vector(after)
                cbs.on_train_batch_end(b, batch_logs)
                model.stop_training = comm.any(model.stop_training)   # [distributed]
            if bar is not None and b + 1 < steps and bar.due(b + 1):
                bar.update(b + 1, [("loss", loss_total / weight_seen)] +
                           [(k, mt.result()) for k, mt in zip(names, metrics)])
            if model.stop_training:
                break
        sums = comm.reduce_sums(np.array([loss_total, weight_seen], np.float64))
        logs = _callbacks.LogsDict()
        logs["loss"] = float(sums[0] / max(sums[1], 1))
        for mt in metrics:
            mt.set_state_vector(comm.reduce_sums(mt.state_vector()))
            logs[mt.name] = mt.result()
        comm.end_epoch(model, trainer)   # [distributed] the ranks' weights still agree
        if val is not None:
            vals = evaluate_arrays(model, val[0], val[1], val_batch or batch_size,
                                   weights=val_weights, comm=comm,
                                   sparse_kernels=val[2] if len(val) > 2 else False)
            for k, v in zip(model.metrics_names, vals):
                logs["val_" + k] = v
        if bar is not None:
            bar.update(steps, list(logs.items()))
        cbs.on_epoch_end(epoch, logs)
        model.stop_training = comm.any(model.stop_training)   # [distributed] all stop
        if model.stop_training:
            break
    cbs.on_train_end({})
    return history


def _forward(nodes, ctx, inp, outs, extra, fwd):
    for i, node in enumerate(nodes):
        node.layer.forward(ctx, inp, outs[i], ws=extra[i], **fwd[i])
        inp = outs[i]
    return inp


def _inference(model, x, chunk, loss=None, out=None, sparse_kernels=False):
    """Yield (start, stop, output, ctx, plan, ws) over chunks of checked input x."""
    from .data import make_source
    plan = Plan(model, training=False, loss=loss)
    n = x.shape[0]
    rows = max(1, min(chunk, n))
    ctx = Context(training=False)
    source = make_source(x, plan, rows, training=False, sparse_kernels=sparse_kernels)
    ws = Workspace(plan, rows, gather_input=source.needs_buffer)
    fwd = [{"logits_only": True} if nd.logits_only else {} for nd in plan.nodes]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        outs, _, extra, _, _, _, buf = ws.view(stop - start)
        if out is not None and plan.nodes:
            outs = outs[:-1] + [out[start:stop]]
        inp = source.chunk(start, stop, buf)
        y = _forward(plan.nodes, ctx, inp, outs, extra, fwd)
        yield start, stop, y, ctx, plan, ws


def predict_arrays(model, x, batch_size, sparse_kernels=False):
    """The last layer's outputs for checked input x, float32 (N, features)."""
    n = x.shape[0]
    plan_out = model._output_features()
    out = np.empty((n, plan_out), _F32)
    chunk = max(batch_size, PREDICT_CHUNK)
    for start, stop, y, _, plan, _ in _inference(model, x, chunk, out=out,
                                                 sparse_kernels=sparse_kernels):
        if not plan.nodes:     # nothing computes: the output is the input
            out[start:stop] = y if isinstance(y, np.ndarray) else y.toarray()
    return out


def evaluate_arrays(model, x, target, batch_size, weights=None, bar=None, comm=None,
                    sparse_kernels=False):
    """[loss, *metrics] of checked (x, target): global when ``comm`` is a world."""
    comm = comm if comm is not None else LocalComm()
    lo, hi = comm.eval_rows(x.shape[0])        # [distributed] this rank's rows
    if (lo, hi) != (0, x.shape[0]):
        from .inputs import rows as _rows
        x, target = _rows(x, lo, hi), target[lo:hi]
        weights = None if weights is None else weights[lo:hi]
    n = x.shape[0]
    metrics = model.metrics
    for mt in metrics:
        mt.reset_state()
    loss = model.loss
    chunk = max(batch_size, PREDICT_CHUNK)
    loss_total = 0.0
    probs_buf = None
    ctx = None
    for start, stop, y, ctx, plan, ws in _inference(model, x, chunk, loss=loss,
                                                    sparse_kernels=sparse_kernels):
        m = stop - start
        if probs_buf is None and plan.fused and _needs_probs(metrics, weights is not None):
            probs_buf = np.empty((min(chunk, n), plan.output_features), _F32)
        probs = probs_buf[:m] if probs_buf is not None else None
        wb = None if weights is None else weights[start:stop]
        loss_total += batch_sums(loss, metrics, plan.fused, ctx.K, ctx.nthreads, y,
                                 target[start:stop], weights=wb, probs=probs)
        if bar is not None:
            done = int(math.ceil(stop / batch_size))
            if done < bar.target and bar.due(done):
                bar.update(done, [("loss", loss_total / stop)] +
                           [(mt.name, mt.result()) for mt in metrics])
    sums = comm.reduce_sums(np.array([loss_total, n], np.float64))
    for mt in metrics:
        mt.set_state_vector(comm.reduce_sums(mt.state_vector()))
    if sums[1] == 0:
        return [float("nan")] * (1 + len(metrics))
    K = ctx.K if ctx is not None else _config.kernels()
    nt = ctx.nthreads if ctx is not None else _config.get_num_threads()
    penalty = penalty_value(model, K, nt)
    return [float(sums[0] / sums[1]) + penalty] + [mt.result() for mt in metrics]
