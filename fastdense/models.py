"""Sequential models the Keras way: compile, fit, evaluate, predict, save.

Memory layout.  All weights live in ONE flat float32 vector (each layer's
kernel and bias are views into it) and all gradients in another, so an
optimizer step is one kernel call over every parameter.  ``fit`` allocates its
workspaces once (per-layer activations and gradients sized for ``batch_size``;
the last, partial batch uses leading-row views) and converts ``x`` once to a
C-contiguous float32 array; each step then gathers its shuffled rows inside
the GEMM (``a_rows``/``a_cols``) and allocates no arrays.

The step on the seed network is entirely kernel calls:
``sgemm``(+bias+relu) -> ``sgemm``(+bias) -> ``softmax_xent_f32`` (loss,
(p-y)/N, correct rows) -> ``bias_grad_f32`` + ``sgemm`` (dW2) -> ``sgemm``
(dh) -> ``relu_backward_f32`` (+db1) -> ``sgemm`` (dW1, gathered) ->
``rmsprop_update_f32`` over all parameters.

Every public call validates all of its arguments before it touches weights or
optimizer state, so a call that raises leaves the model as it was.
"""
import json
import math
import os

import numpy as np

from ._atomic import atomic_file
from . import _config, _memory
from . import callbacks as _callbacks
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from . import utils as _utils
from ._progress import Progbar

__all__ = ["Sequential", "load_model"]

_F32 = np.float32
_FORMAT = "fastdense.model"
_FORMAT_VERSION = 1
_PREDICT_CHUNK = 2048


def _whole(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError("%s must be a whole number >= %d, got %r" % (name, minimum, value))
    value = int(value)
    if value < minimum:
        raise ValueError("%s must be >= %d, got %d" % (name, minimum, value))
    return value


def _check_verbose(verbose):
    if verbose is True:
        return 1
    if verbose is False:
        return 0
    if verbose not in (0, 1, 2):
        raise ValueError("verbose must be 0 (silent), 1 (progress bar) or 2 (one line "
                         "per epoch), got %r" % (verbose,))
    return int(verbose)


class _Workspace:
    """Buffers for one fit / predict call, sized for ``rows`` samples."""

    def __init__(self, model, rows, train, target_proto=None, need_probs=False):
        self.K = _config.kernels()
        self.nthreads = _config.get_num_threads()
        self.rows = rows
        layers = model.layers
        self.fused = model._fused()
        self.outs = [_memory.empty((rows, l.units)) for l in layers]
        self.grads = [_memory.empty((rows, l.units)) for l in layers] if train else None
        last = len(layers) - 1
        self.scratch = [_memory.empty((rows, l.units))
                        if train and l.activation.needs_scratch
                        and not (self.fused and i == last) else None
                        for i, l in enumerate(layers)]
        self.probs = (_memory.empty((rows, layers[-1].units))
                      if need_probs and self.fused else None)
        self.targets = (np.empty((rows,) + target_proto.shape[1:], target_proto.dtype)
                        if target_proto is not None else None)

    def view(self, m):
        """(outs, grads, scratch, probs, targets) for the first m rows."""
        if m == self.rows:
            return self.outs, self.grads, self.scratch, self.probs, self.targets
        cut = lambda a: None if a is None else a[:m]
        return ([o[:m] for o in self.outs],
                None if self.grads is None else [g[:m] for g in self.grads],
                [cut(s) for s in self.scratch], cut(self.probs), cut(self.targets))


class Sequential:
    """A linear stack of layers (Keras's ``models.Sequential``)."""

    def __init__(self, layers=None, name=None):
        self.name = name or _layers._unique_name("sequential")
        self.layers = []
        self._params = self._grads = None
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self._compile_config = None
        self.stop_training = False
        self.history = None
        if layers is not None:
            for layer in layers:
                self.add(layer)

    # ---- structure --------------------------------------------------------
    def add(self, layer):
        if not isinstance(layer, _layers.Layer):
            raise TypeError("Sequential.add expects a layer such as "
                            "fastdense.layers.Dense(10), got %r" % (layer,))
        if any(l is layer for l in self.layers):
            raise ValueError("layer %s is already in this model" % layer.name)
        if any(l.name == layer.name for l in self.layers):
            raise ValueError("the layer name %r is already used in this model: layer "
                             "names must be unique" % layer.name)
        was_built = self.built
        self.layers.append(layer)
        if len(self.layers) == 1 and layer.input_shape is not None:
            self._build(layer.input_shape[0])
        elif was_built:
            self._build(self._input_dim())

    @property
    def built(self):
        return self._params is not None and all(l.built for l in self.layers) \
            and self._n_bound == len(self.layers)

    _n_bound = 0

    def _input_dim(self):
        if not self.layers:
            return None
        first = self.layers[0]
        if first.input_shape is not None:
            return first.input_shape[0]
        return first.input_dim

    def build(self, input_shape=None):
        """Create the weights for inputs of ``input_shape`` ((None, features))."""
        if not self.layers:
            raise ValueError("add layers to the model before building it")
        if input_shape is None:
            dim = self._input_dim()
            if dim is None:
                raise ValueError("build needs input_shape, e.g. model.build((None, 784)), "
                                 "or an input_shape on the first layer")
        else:
            shape = tuple(input_shape)
            dim = shape[-1]
            if len(shape) not in (1, 2) or dim is None or int(dim) < 1:
                raise ValueError("input_shape must be (None, features), got %r"
                                 % (input_shape,))
            dim = int(dim)
            known = self._input_dim()
            if known is not None and known != dim:
                raise ValueError("the model expects %d input features, not %d" % (known, dim))
        self._build(dim)

    def _build(self, input_dim):
        rng = _utils.get_rng()
        dim = int(input_dim)
        for layer in self.layers:
            if not layer.built or layer.input_dim != dim:
                layer.build(dim, rng)
            dim = layer.output_dim
        shapes = [s for l in self.layers for s in l.param_shapes()]
        total = int(sum(int(np.prod(s)) for s in shapes))
        params = _memory.empty(total)    # line-aligned: see _memory
        grads = _memory.zeros(total)
        offset = 0
        for layer in self.layers:
            pv, gv = [], []
            for s in layer.param_shapes():
                size = int(np.prod(s))
                pv.append(params[offset:offset + size].reshape(s))
                gv.append(grads[offset:offset + size].reshape(s))
                offset += size
            layer.bind(pv, gv)
        self._params, self._grads = params, grads
        self._params2d = params.reshape(1, total)
        self._grads2d = grads.reshape(1, total)
        self._n_bound = len(self.layers)

    @property
    def input_shape(self):
        dim = self._input_dim()
        return None if dim is None else (None, dim)

    @property
    def output_shape(self):
        return (None, self.layers[-1].units) if self.layers else None

    def count_params(self):
        if not self.built:
            raise ValueError("the model is not built yet: call build() or fit(), or "
                             "give the first layer an input_shape")
        return int(self._params.size)

    def get_weights(self):
        """Copies of all weights in Keras order [W1, b1, W2, b2, ...]."""
        return [w for l in self.layers for w in l.get_weights()]

    def set_weights(self, weights):
        """Copy ``weights`` (Keras order) into the model, after checking every shape."""
        if not self.built:
            raise ValueError("set_weights needs a built model")
        shapes = [s for l in self.layers for s in l.param_shapes()]
        weights = list(weights)
        if len(weights) != len(shapes):
            raise ValueError("set_weights expects %d arrays (Keras order: kernel, bias "
                             "per layer), got %d" % (len(shapes), len(weights)))
        arrays = [np.asarray(w) for w in weights]
        for i, (w, s) in enumerate(zip(arrays, shapes)):
            if w.shape != tuple(s):
                raise ValueError("weight %d has shape %s, expected %s" % (i, w.shape, tuple(s)))
        i = 0
        for layer in self.layers:
            n = len(layer.param_shapes())
            layer.set_weights(arrays[i:i + n])
            i += n

    def summary(self, line_length=65, print_fn=None):
        """Print the Keras table: layer, output shape, parameter count, totals."""
        if not self.built:
            raise ValueError("This model has not yet been built. Build the model first "
                             "by calling build() or fit() with some data, or give the "
                             "first layer an input_shape argument, e.g. "
                             "Dense(512, input_shape=(784,)).")
        print_fn = print_fn or print
        positions = [int(line_length * p) for p in (.33, .55, .67, 1.)]

        def row(fields):
            line = ""
            for i, field in enumerate(fields):
                if i > 0:
                    line = line[:-1] + " "
                line += str(field)
                line = line[:positions[i]]
                line += " " * (positions[i] - len(line))
            print_fn(line)

        print_fn('Model: "%s"' % self.name)
        print_fn("_" * line_length)
        row(["Layer (type)", "Output Shape", "Param #"])
        print_fn("=" * line_length)
        for i, layer in enumerate(self.layers):
            row(["%s (%s)" % (layer.name, type(layer).__name__),
                 "(None, %d)" % layer.units, layer.count_params()])
            print_fn(("=" if i == len(self.layers) - 1 else "_") * line_length)
        total = self.count_params()
        print_fn("Total params: {:,}".format(total))
        print_fn("Trainable params: {:,}".format(total))
        print_fn("Non-trainable params: 0")
        print_fn("_" * line_length)

    # ---- compile --------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Set the optimizer, the loss and the metrics ('accuracy', ...)."""
        if kwargs:
            raise ValueError("compile got unsupported arguments: %s"
                             % ", ".join(sorted(kwargs)))
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'")
        if not self.layers:
            raise ValueError("add layers to the model before compiling it")
        opt = _optimizers.get(optimizer)
        loss_obj = _losses.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, _metrics.Metric)):
            metrics = [metrics]
        elif isinstance(metrics, dict):
            raise ValueError("metrics must be a list such as ['accuracy']")
        metrics = list(metrics)
        resolved = [_metrics.resolve(m, loss_obj, self.layers[-1].units) for m in metrics]
        names = [m.name for m in resolved]
        if len(set(names)) != len(names):
            raise ValueError("metrics %r name the same metric twice" % (metrics,))
        if "loss" in names:
            raise ValueError("'loss' is always reported; it is not a metric name")
        # all valid: now change the model
        self.optimizer = opt
        self.loss = loss_obj
        self.metrics = resolved
        self._compile_config = {
            "optimizer": _optimizers.serialize(opt),
            "loss": loss if isinstance(loss, str) else loss_obj.name,
            "metrics": names,
        }

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.metrics]

    def _check_compiled(self, what):
        if self.optimizer is None or self.loss is None:
            raise RuntimeError("You must compile your model before %s: call "
                               "model.compile(optimizer='rmsprop', loss=..., "
                               "metrics=['accuracy']) first" % what)

    def _fused(self):
        return self.loss is not None and self.loss.fuses_with(self.layers[-1].activation.name)

    # ---- input checks -----------------------------------------------------------
    def _check_x(self, x, where="x"):
        """x as a C-contiguous float32 (N, features) array, or a ValueError."""
        if not self.layers:
            raise ValueError("the model has no layers: add some before using it")
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise ValueError("%s must be a numeric array: %s" % (where, exc))
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                       or arr.dtype == np.bool_):
            raise ValueError("%s must be a numeric array, got dtype %s" % (where, arr.dtype))
        expected = self._input_dim()
        if arr.ndim != 2 or (expected is not None and arr.shape[1] != expected):
            flat = int(np.prod(arr.shape[1:])) if arr.ndim >= 2 else None
            want = expected if expected is not None else flat
            if want is None:
                raise ValueError("expected %s of shape (N, features), got %s: a single "
                                 "sample needs x.reshape(1, -1), a list of scalars "
                                 "x.reshape(-1, 1)" % (where, arr.shape))
            msg = "expected %s of shape (N, %d), got %s" % (where, want, arr.shape)
            if flat == want:
                msg += ": reshape to (N, %d), e.g. %s.reshape(len(%s), %d)" % (
                    want, where, where, want)
            elif arr.ndim == 1 and arr.shape[0] == want:
                msg += ": a single sample needs reshape to (1, %d)" % want
            else:
                msg += ": the first layer takes %d features per sample" % want
            raise ValueError(msg)
        if arr.shape[1] < 1:
            raise ValueError("%s has no features (shape %s)" % (where, arr.shape))
        return np.ascontiguousarray(arr, dtype=_F32)

    def _check_xy(self, x, y, what):
        x = self._check_x(x, "x" if what != "validation" else "validation x")
        ylen = np.shape(y)[0] if np.ndim(y) >= 1 else None
        if ylen != len(x):
            raise ValueError("x and y must have the same number of samples%s: x has %d, "
                             "y has %s" % (" (validation_data)" if what == "validation" else "",
                                           len(x), ylen if ylen is not None else "a scalar"))
        target = self.loss.prepare_targets(
            y, self.layers[-1].units, "y" if what != "validation" else "validation y")
        return x, target

    # ---- training ------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0):
        """Train for ``epochs`` epochs; returns a History."""
        self._check_compiled("training it (fit)")
        batch_size = _whole("batch_size", 32 if batch_size is None else batch_size, 1)
        epochs = _whole("epochs", epochs, 0)
        initial_epoch = _whole("initial_epoch", initial_epoch, 0)
        verbose = _check_verbose(verbose)
        if isinstance(validation_split, bool) or not isinstance(
                validation_split, (int, float, np.integer, np.floating)) \
                or not 0.0 <= float(validation_split) < 1.0:
            raise ValueError("validation_split must be a fraction in [0, 1), got %r"
                             % (validation_split,))
        cbs = list(callbacks) if callbacks is not None else []
        for cb in cbs:
            if not isinstance(cb, _callbacks.Callback):
                raise ValueError("callbacks must be fastdense.callbacks.Callback instances, "
                                 "got %r" % (cb,))
        x, target = self._check_xy(x, y, "fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            val = self._check_xy(validation_data[0], validation_data[1], "validation")
        elif validation_split:
            split_at = int(len(x) * (1.0 - float(validation_split)))
            if split_at == 0 or split_at == len(x):
                raise ValueError("validation_split=%r of %d samples leaves %s"
                                 % (validation_split, len(x),
                                    "no training samples" if split_at == 0
                                    else "no validation samples"))
            val = (x[split_at:], target[split_at:])
            x, target = x[:split_at], target[:split_at]
        if len(x) == 0:
            raise ValueError("fit needs at least one training sample")

        # ---- everything is valid: from here on the model changes
        if not self.built:
            self._build(x.shape[1])
        self.optimizer.build(self._params.size)
        n = len(x)
        bs = min(batch_size, n)
        steps = int(math.ceil(n / batch_size))
        probs_needed = any(not m.counts_correct_rows for m in self.metrics)
        ws = _Workspace(self, bs, train=True, target_proto=target, need_probs=probs_needed)
        perm = np.arange(n, dtype=np.int64)
        rng = _utils.get_rng()

        self.history = history = _callbacks.History()
        all_cbs = cbs + [history]
        params = {"batch_size": batch_size, "epochs": epochs, "steps": steps,
                  "samples": n, "verbose": verbose, "do_validation": val is not None,
                  "metrics": self.metrics_names + (["val_" + k for k in self.metrics_names]
                                                   if val is not None else [])}
        for cb in all_cbs:
            cb.set_model(self)
            cb.set_params(params)
        self.stop_training = False
        names = [m.name for m in self.metrics]
        for cb in all_cbs:
            cb.on_train_begin({})
        batch_hooks = bool(cbs)
        for epoch in range(initial_epoch, epochs):
            for cb in all_cbs:
                cb.on_epoch_begin(epoch, {})
            if verbose:
                print("Epoch %d/%d" % (epoch + 1, epochs))
            bar = Progbar(steps, verbose=verbose) if verbose else None
            if shuffle:
                rng.shuffle(perm)
            loss_total = 0.0
            metric_totals = [0.0] * len(self.metrics)
            seen = 0
            for b in range(steps):
                start = b * batch_size
                stop = min(start + batch_size, n)
                m = stop - start
                if batch_hooks:
                    batch_logs = {"batch": b, "size": m}
                    for cb in cbs:
                        cb.on_train_batch_begin(b, batch_logs)
                rows = perm[start:stop] if shuffle else None
                loss_sum, msums = self._train_step(ws, x, target, rows, start, stop)
                loss_total += loss_sum
                for i, s in enumerate(msums):
                    metric_totals[i] += s
                seen += m
                if batch_hooks:
                    batch_logs["loss"] = loss_sum / m
                    for name, s in zip(names, msums):
                        batch_logs[name] = s / m
                    for cb in cbs:
                        cb.on_train_batch_end(b, batch_logs)
                if bar is not None and b + 1 < steps and bar.due(b + 1):
                    bar.update(b + 1, [("loss", loss_total / seen)] +
                               [(k, t / seen) for k, t in zip(names, metric_totals)])
                if self.stop_training:
                    break
            logs = _callbacks.LogsDict()
            logs["loss"] = loss_total / max(seen, 1)
            for k, t in zip(names, metric_totals):
                logs[k] = t / max(seen, 1)
            if val is not None:
                vals = self._evaluate_arrays(val[0], val[1], batch_size)
                for k, v in zip(self.metrics_names, vals):
                    logs["val_" + k] = v
            if bar is not None:
                bar.update(steps, list(logs.items()))
            for cb in all_cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in all_cbs:
            cb.on_train_end({})
        return history

    def _train_step(self, ws, x, target, rows, start, stop, update=True):
        """One forward/backward/update on rows ``rows`` (or ``start:stop``)."""
        K, nt = ws.K, ws.nthreads
        m = stop - start
        outs, grads, scratch, probs, tbuf = ws.view(m)
        if rows is None:
            xin = x[start:stop]
            tb = target[start:stop]
        else:
            xin = x
            tb = np.take(target, rows, axis=0, out=tbuf, mode="clip")
        layers = self.layers
        last = len(layers) - 1
        fused = ws.fused
        inp, r = xin, rows
        for i, layer in enumerate(layers):
            layer.forward(K, inp, outs[i], rows=r, logits_only=fused and i == last,
                          nthreads=nt)
            inp, r = outs[i], None
        scale = 1.0 / m
        correct = None
        if fused:
            loss_sum, correct = self.loss.from_logits(K, outs[last], tb, grad=grads[last],
                                                      probs=probs, scale=scale, nthreads=nt)
            y_pred = probs
        else:
            loss_sum = self.loss.forward_backward(outs[last], tb, grads[last], scale)
            y_pred = outs[last]
        msums = [correct if (correct is not None and mt.counts_correct_rows)
                 else mt.batch_sum(y_pred, tb) for mt in self.metrics]
        for i in range(last, -1, -1):
            if i == 0:
                layer_in, r = xin, rows
            else:
                layer_in, r = outs[i - 1], None
            layers[i].backward(K, layer_in, grads[i], outs[i],
                               dx=grads[i - 1] if i > 0 else None, rows=r,
                               grad_is_dz=fused and i == last, scratch=scratch[i],
                               nthreads=nt)
        if update:
            self.optimizer.apply(self._params2d, self._grads2d, K, nt)
        return loss_sum, msums

    def _loss_and_gradients(self, x, y):
        """(mean loss, copies of the gradients in Keras order) on the batch (x, y).

        No weight or optimizer state changes; for tests and debugging."""
        self._check_compiled("computing gradients")
        x, target = self._check_xy(x, y, "fit")
        if not self.built:
            self._build(x.shape[1])
        ws = _Workspace(self, len(x), train=True, target_proto=target,
                        need_probs=any(not m.counts_correct_rows for m in self.metrics))
        loss_sum, _ = self._train_step(ws, x, target, None, 0, len(x), update=False)
        grads = [g.copy() for l in self.layers
                 for g in ([l.kernel_grad] + ([l.bias_grad] if l.use_bias else []))]
        return loss_sum / len(x), grads

    # ---- inference -------------------------------------------------------------
    def _forward_chunks(self, x, chunk, logits_only, out=None):
        """Yield (start, stop, last-layer output) over chunks of x."""
        n = len(x)
        ws = _Workspace(self, max(1, min(chunk, n)), train=False)
        K, nt = ws.K, ws.nthreads
        last = len(self.layers) - 1
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            outs = ws.view(stop - start)[0]
            if out is not None:
                outs = outs[:last] + [out[start:stop]]
            inp = x[start:stop]
            for i, layer in enumerate(self.layers):
                layer.forward(K, inp, outs[i], logits_only=logits_only and i == last,
                              nthreads=nt)
                inp = outs[i]
            yield start, stop, outs[last], ws

    def predict(self, x, batch_size=None, verbose=0):
        """The last layer's outputs for x, float32 (N, units)."""
        batch_size = _whole("batch_size", 32 if batch_size is None else batch_size, 1)
        _check_verbose(verbose)
        x = self._check_x(x)
        if not self.built:
            self._build(x.shape[1])
        out = np.empty((len(x), self.layers[-1].units), _F32)
        chunk = max(batch_size, _PREDICT_CHUNK)
        for _ in self._forward_chunks(x, chunk, logits_only=False, out=out):
            pass
        return out

    def _evaluate_arrays(self, x, target, batch_size, bar=None):
        n = len(x)
        if n == 0:
            return [float("nan")] * (1 + len(self.metrics))
        fused = self._fused()
        chunk = max(batch_size, _PREDICT_CHUNK)
        loss_total = 0.0
        totals = [0.0] * len(self.metrics)
        need_probs = fused and any(not m.counts_correct_rows for m in self.metrics)
        probs_buf = np.empty((min(chunk, n), self.layers[-1].units), _F32) if need_probs else None
        for start, stop, out, ws in self._forward_chunks(x, chunk, logits_only=fused):
            tb = target[start:stop]
            correct = None
            if fused:
                probs = probs_buf[:stop - start] if need_probs else None
                loss_sum, correct = self.loss.from_logits(ws.K, out, tb, probs=probs,
                                                          nthreads=ws.nthreads)
                y_pred = probs
            else:
                loss_sum = self.loss.forward_backward(out, tb)
                y_pred = out
            loss_total += loss_sum
            for i, mt in enumerate(self.metrics):
                totals[i] += (correct if (correct is not None and mt.counts_correct_rows)
                              else mt.batch_sum(y_pred, tb))
            if bar is not None:
                done = int(math.ceil(stop / batch_size))
                if done < bar.target and bar.due(done):
                    bar.update(done, [("loss", loss_total / stop)] +
                               [(m.name, t / stop) for m, t in zip(self.metrics, totals)])
        return [loss_total / n] + [t / n for t in totals]

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1):
        """[loss, *metrics] on (x, y) (the scalar loss when there are no metrics)."""
        self._check_compiled("evaluating it")
        batch_size = _whole("batch_size", 32 if batch_size is None else batch_size, 1)
        verbose = _check_verbose(verbose)
        x, target = self._check_xy(x, y, "evaluate")
        if not self.built:
            self._build(x.shape[1])
        steps = max(1, int(math.ceil(len(x) / batch_size)))
        bar = Progbar(steps, verbose=1) if verbose == 1 else None
        results = self._evaluate_arrays(x, target, batch_size, bar=bar)
        if bar is not None:
            bar.update(steps, list(zip(self.metrics_names, results)))
        return results if self.metrics else results[0]

    # ---- persistence ------------------------------------------------------------
    def get_config(self):
        return {"name": self.name,
                "layers": [_layers.serialize(l) for l in self.layers]}

    def save(self, filepath, include_optimizer=True):
        """Write config, weights and optimizer state to exactly ``filepath`` (.npz format).

        Atomic: the file is written to a temporary file in the same folder,
        flushed to disk and renamed over ``filepath``, so a failure never
        leaves a half-written file in place of an earlier one.
        """
        path = os.fspath(filepath)
        config = {"format": _FORMAT, "format_version": _FORMAT_VERSION,
                  "class_name": "Sequential", "config": self.get_config(),
                  "input_dim": self._input_dim() if self.built else None,
                  "compile": self._compile_config}
        arrays = {}
        if self.built:
            for i, w in enumerate(self.get_weights()):
                arrays["weight_%d" % i] = w
        opt_state = None
        if include_optimizer and self.optimizer is not None:
            iterations, state = self.optimizer.get_state()
            opt_state = {"iterations": iterations, "n_arrays": len(state)}
            for i, a in enumerate(state):
                arrays["optimizer_state_%d" % i] = a
        config["optimizer_state"] = opt_state
        config["n_weights"] = len([k for k in arrays if k.startswith("weight_")])
        arrays["config"] = np.array(json.dumps(config))
        with atomic_file(path) as f:
            np.savez(f, **arrays)


def load_model(filepath, compile=True):
    """Rebuild a model written by ``Sequential.save``.

    A missing file is FileNotFoundError; a file that is not a complete, valid
    fastdense model (truncated, corrupt, edited) is a ValueError naming it.
    """
    path = os.fspath(filepath)
    with open(path, "rb"):     # FileNotFoundError / PermissionError / IsADirectoryError
        pass
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        return _model_from_arrays(arrays, compile)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as exc:
        raise ValueError("%s is not a valid fastdense model file (%s: %s)"
                         % (path, type(exc).__name__, exc)) from exc


def _model_from_arrays(arrays, compile):
    if "config" not in arrays:
        raise ValueError("no config entry")
    config = json.loads(str(arrays["config"][()]))
    if not isinstance(config, dict) or config.get("format") != _FORMAT:
        raise ValueError("not a fastdense model (format tag missing)")
    if config.get("format_version") != _FORMAT_VERSION:
        raise ValueError("unsupported format_version %r" % (config.get("format_version"),))
    if config.get("class_name") != "Sequential":
        raise ValueError("unknown model class %r" % (config.get("class_name"),))
    mconf = config["config"]
    layer_list = []
    for lc in mconf["layers"]:
        if not isinstance(lc, dict) or lc.get("class_name") != "Dense":
            raise ValueError("unknown layer %r" % (lc,))
        try:
            layer_list.append(_layers.Dense(**lc["config"]))
        except TypeError as exc:
            raise ValueError("bad layer config %r: %s" % (lc, exc))
    model = Sequential(name=mconf.get("name"))
    for layer in layer_list:
        model.add(layer)
    input_dim = config.get("input_dim")
    n_weights = int(config.get("n_weights", 0))
    if input_dim is not None:
        input_dim = _whole("input_dim", input_dim, 1)
        if not model.built:
            model._build(input_dim)
        elif model._input_dim() != input_dim:
            raise ValueError("input_dim %d disagrees with the first layer's input "
                             "shape (%d,)" % (input_dim, model._input_dim()))
        weights = []
        for i in range(n_weights):
            w = arrays["weight_%d" % i]
            if w.dtype != _F32:
                raise ValueError("weight_%d has dtype %s, expected float32" % (i, w.dtype))
            weights.append(w)
        model.set_weights(weights)
    elif n_weights:
        raise ValueError("weights stored for an unbuilt model")
    compile_config = config.get("compile")
    if compile and compile_config is not None:
        opt = _optimizers.deserialize(compile_config["optimizer"])
        model.compile(optimizer=opt, loss=compile_config["loss"],
                      metrics=list(compile_config.get("metrics") or []))
        state = config.get("optimizer_state")
        if state is not None:
            n = int(state["n_arrays"])
            stored = [arrays["optimizer_state_%d" % i] for i in range(n)]
            size = model._params.size if model.built else None
            for a in stored:
                if a.dtype != _F32 or a.ndim != 1 or (size is not None and a.size != size):
                    raise ValueError("optimizer state does not match the weights")
            iterations = int(state["iterations"])
            if iterations < 0:
                raise ValueError("negative optimizer iterations")
            opt.set_state(iterations, stored, n_params=size)
    return model
