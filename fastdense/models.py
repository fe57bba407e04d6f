"""``Sequential``: the user-facing model, the Keras way.

This module is the model's surface: its structure (add, pop, build, layers,
weights, summary), compile, and the fit / evaluate / predict calls with
their argument checks.  The work happens in ``fastdense/engine/``:
``inputs`` checks arrays, ``workspace`` plans the compute and holds the
buffers, ``training`` runs the kernel step and the loops, ``saving`` writes
and reads model and weight files.

Each layer owns its parameters (one line-aligned buffer per layer), so a
layer shared by two models is the same weights in both.  Every public call
validates all of its arguments before it touches weights or optimizer state,
so a call that raises leaves the model as it was.
"""
import numpy as np

from . import _unsupported
from . import callbacks as _callbacks
from . import distributed as _distributed
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from . import utils as _utils
from ._progress import Progbar
from .engine import inputs as _inputs
from .engine import saving as _saving
from .engine import training as _training
from .engine.inputs import check_verbose, whole

__all__ = ["Sequential", "load_model", "save_model", "model_from_config",
           "model_from_json", "clone_model"]

_F32 = np.float32

load_model = _saving.load_model
save_model = _saving.save_model
model_from_config = _saving.model_from_config
model_from_json = _saving.model_from_json


class Sequential:
    """A linear stack of layers (Keras's ``models.Sequential``)."""

    def __init__(self, layers=None, name=None):
        if name is not None and not isinstance(name, str):
            raise ValueError("model name must be a string, got %r" % (name,))
        self.name = name or _layers.base.unique_name("sequential")
        self._layers = []
        self._build_input_shape = None     # from build() or the first fit
        self._trainable = True
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self._compile_config = None
        self._compiled_trainable = None    # {id(layer): effective trainable} at compile
        self.stop_training = False
        self.history = None
        if layers is not None:
            if isinstance(layers, _layers.Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # ---- structure --------------------------------------------------------
    @property
    def layers(self):
        return list(self._layers)

    def add(self, layer):
        """Append a layer; built at once when the model's input shape is known."""
        if isinstance(layer, Sequential):
            raise TypeError("fastdense does not nest models: add the layers of %s one "
                            "by one (for layer in other.layers: model.add(layer))"
                            % layer.name)
        if not isinstance(layer, _layers.Layer):
            raise TypeError("Sequential.add expects a layer such as "
                            "fastdense.layers.Dense(10), got %r" % (layer,))
        if any(l is layer for l in self._layers):
            raise ValueError("layer %s is already in this model" % layer.name)
        if any(l.name == layer.name for l in self._layers):
            raise ValueError("the layer name %r is already used in this model: layer "
                             "names must be unique" % layer.name)
        if self._layers and layer.input_shape is not None \
                and not isinstance(layer, _layers.InputLayer):
            pass   # Keras ignores input_shape on layers after the first
        if isinstance(layer, _layers.InputLayer) and self._layers:
            raise ValueError("an Input / InputLayer can only be the first layer")
        candidate = self._layers + [layer]
        shape = self._input_shape(candidate)
        if shape is not None:
            self._build_layers(candidate, shape)     # raises before anything changes
        self._layers.append(layer)

    def pop(self):
        """Remove the last layer."""
        if not self._layers:
            raise TypeError("there are no layers in the model to pop")
        self._layers.pop()

    def get_layer(self, name=None, index=None):
        """A layer by name or by index."""
        if index is not None:
            if name is not None:
                raise ValueError("give get_layer a name or an index, not both")
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise ValueError("index must be a whole number, got %r" % (index,))
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError("index %d is out of range: the model has %d layers"
                                 % (index, len(self._layers)))
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError("no layer named %r; the layers are: %s"
                         % (name, ", ".join(l.name for l in self._layers)))

    def _input_shape(self, layers=None):
        layers = self._layers if layers is None else layers
        if layers and layers[0].input_shape is not None:
            return tuple(layers[0].input_shape)
        return self._build_input_shape

    def _layer_output_shapes(self, layers=None, input_shape=None):
        layers = self._layers if layers is None else layers
        shape = self._input_shape(layers) if input_shape is None else input_shape
        out = []
        for layer in layers:
            shape = tuple(layer.compute_output_shape(shape))
            out.append(shape)
        return out

    def _build_layers(self, layers, input_shape):
        """Check every layer's shapes, then build those not built (Keras order)."""
        shape = tuple(input_shape)
        plan = []
        for layer in layers:
            if layer.built and layer.built_input_shape != shape:
                layer.build(shape)                  # raises the shared-layer error
            plan.append((layer, shape))
            shape = tuple(layer.compute_output_shape(shape))
        rng = _utils.get_rng()
        for layer, s in plan:
            if not layer.built:
                layer.build(s, rng)

    @property
    def built(self):
        return bool(self._layers) and self._input_shape() is not None \
            and all(l.built for l in self._layers)

    def build(self, input_shape=None):
        """Create the weights for inputs of ``input_shape`` ((None, features...))."""
        if not self._layers:
            raise ValueError("add layers to the model before building it")
        if input_shape is None:
            shape = self._input_shape()
            if shape is None:
                raise ValueError("build needs input_shape, e.g. model.build((None, 784)), "
                                 "or an input_shape on the first layer")
        else:
            try:
                full = tuple(input_shape)
            except TypeError:
                raise ValueError("input_shape must be (None, features), got %r"
                                 % (input_shape,))
            shape = full[1:] if len(full) >= 2 else full
            if not shape or any(d is None or int(d) < 1 for d in shape):
                raise ValueError("input_shape must be (None, features), got %r"
                                 % (input_shape,))
            shape = tuple(int(d) for d in shape)
            known = self._input_shape()
            if known is not None and tuple(known) != shape:
                raise ValueError("the model expects inputs of shape %s, not %s"
                                 % (_inputs.shape_text(known), _inputs.shape_text(shape)))
        self._build_layers(self._layers, shape)
        if self._layers[0].input_shape is None:
            self._build_input_shape = shape

    def _ensure_built(self, shape):
        if not self.built:
            self._build_layers(self._layers, shape)
            if self._layers[0].input_shape is None:
                self._build_input_shape = tuple(shape)

    def _require_built(self, what):
        if not self.built:
            raise ValueError("This model has not yet been built. Build the model first "
                             "by calling build() or fit() with some data, or give the "
                             "first layer an input_shape argument, e.g. "
                             "Dense(512, input_shape=(784,)) (%s)" % what)

    @property
    def input_shape(self):
        shape = self._input_shape()
        return None if shape is None else (None,) + tuple(shape)

    @property
    def output_shape(self):
        if not self._layers or self._input_shape() is None:
            return None
        return (None,) + tuple(self._layer_output_shapes()[-1])

    def _output_features(self):
        shape = self._layer_output_shapes()[-1]
        return int(np.prod(shape)) if shape else 1

    def _output_units(self):
        if self._input_shape() is None:
            for layer in reversed(self._layers):
                if hasattr(layer, "units"):
                    return layer.units
            return None
        return self._output_features()

    def _unique_layers(self):
        return list(self._layers)

    # ---- trainable and weights ---------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = _layers.base.check_bool(value, "trainable")

    def _effective_trainable(self, layer):
        return self._trainable and layer.trainable

    def _trainable_snapshot(self):
        """ids of the layers fit trains: the flags as they were at compile."""
        snap = self._compiled_trainable or {}
        return {id(l) for l in self._layers
                if snap.get(id(l), self._effective_trainable(l))}

    @property
    def weights(self):
        return [w for l in self._layers for w in l.weights]

    @property
    def trainable_weights(self):
        return [w for l in self._layers if self._effective_trainable(l) for w in l.weights]

    @property
    def non_trainable_weights(self):
        return [w for l in self._layers if not self._effective_trainable(l)
                for w in l.weights]

    def count_params(self):
        self._require_built("count_params")
        return int(sum(l.count_params() for l in self._layers))

    def get_weights(self):
        """Copies of all weights in Keras order [W1, b1, W2, b2, ...]."""
        return [w for l in self._layers for w in l.get_weights()]

    def set_weights(self, weights):
        """Copy ``weights`` (Keras order) into the model, after checking every shape."""
        self._require_built("set_weights")
        shapes = [s for l in self._layers for s in l.param_shapes()]
        weights = list(weights)
        if len(weights) != len(shapes):
            raise ValueError("set_weights expects %d arrays (Keras order: kernel, bias "
                             "per layer), got %d" % (len(shapes), len(weights)))
        arrays = [np.asarray(w) for w in weights]
        for i, (w, s) in enumerate(zip(arrays, shapes)):
            if w.shape != tuple(s):
                raise ValueError("weight %d has shape %s, expected %s" % (i, w.shape, tuple(s)))
            if not (np.issubdtype(w.dtype, np.number) or w.dtype == np.bool_):
                raise ValueError("weight %d must be numeric, got dtype %s" % (i, w.dtype))
        i = 0
        for layer in self._layers:
            n = len(layer.param_shapes())
            layer.set_weights(arrays[i:i + n])
            i += n

    def summary(self, line_length=65, positions=None, print_fn=None):
        """Print the Keras table: layer, output shape, parameter count, totals."""
        self._require_built("summary")
        print_fn = print_fn or print
        if positions is None:
            positions = [.33, .55, .67, 1.]
        if positions[-1] <= 1:
            positions = [int(line_length * p) for p in positions]

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
        shapes = self._layer_output_shapes()
        shown = [l for l in self._layers if not isinstance(l, _layers.InputLayer)]
        for i, layer in enumerate(shown):
            shape = shapes[self._layers.index(layer)]
            row(["%s (%s)" % (layer.name, type(layer).__name__),
                 "(None, %s)" % ", ".join(str(d) for d in shape), layer.count_params()])
            print_fn(("=" if i == len(shown) - 1 else "_") * line_length)
        total = self.count_params()
        trainable = int(sum(l.count_params() for l in self._layers
                            if self._effective_trainable(l)))
        print_fn("Total params: {:,}".format(total))
        print_fn("Trainable params: {:,}".format(trainable))
        print_fn("Non-trainable params: {:,}".format(total - trainable))
        print_fn("_" * line_length)

    # ---- compile --------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                sample_weight_mode=None, weighted_metrics=None, target_tensors=None,
                run_eagerly=None, steps_per_execution=None, jit_compile=None, **kwargs):
        """Set the optimizer, the loss and the metrics ('accuracy', ...)."""
        if kwargs:
            raise TypeError("compile got unexpected keyword arguments %s; the supported "
                            "ones are: optimizer, loss, metrics (and Keras's loss_weights, "
                            "sample_weight_mode, weighted_metrics, run_eagerly, "
                            "steps_per_execution, jit_compile when left at their "
                            "defaults)" % ", ".join(sorted(kwargs)))
        _unsupported.only_defaults("compile", loss_weights=loss_weights,
                                   sample_weight_mode=sample_weight_mode,
                                   weighted_metrics=weighted_metrics,
                                   target_tensors=target_tensors)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'")
        if not self._layers:
            raise ValueError("add layers to the model before compiling it")
        opt = _optimizers.get(optimizer)
        loss_obj = _losses.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, _metrics.Metric)) or callable(metrics):
            metrics = [metrics]
        elif isinstance(metrics, dict):
            raise ValueError("metrics must be a list such as ['accuracy']")
        metrics = list(metrics)
        units = self._output_units()
        resolved = [_metrics.resolve(m, loss_obj, units) for m in metrics]
        names = [m.name for m in resolved]
        if len(set(names)) != len(names):
            raise ValueError("metrics %r name the same metric twice" % (metrics,))
        if "loss" in names:
            raise ValueError("'loss' is always reported; it is not a metric name")
        # all valid: now change the model
        self.optimizer = opt
        self.loss = loss_obj
        self.metrics = resolved
        self._compiled_trainable = {id(l): self._effective_trainable(l) for l in self._layers}
        self._compile_config = {
            "optimizer": _optimizers.serialize(opt),
            "loss": _losses.serialize(loss_obj) if hasattr(_losses, "serialize")
            else (loss if isinstance(loss, str) else loss_obj.name),
            "metrics": [_metric_config(given, m) for given, m in zip(metrics, resolved)],
        }

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.metrics]

    def _check_compiled(self, what):
        if self.optimizer is None or self.loss is None:
            raise RuntimeError("You must compile your model before %s: call "
                               "model.compile(optimizer='rmsprop', loss=..., "
                               "metrics=['accuracy']) first" % what)

    def _check_xy(self, x, y, what):
        x, target, shape = _inputs.check_xy(self, x, y, what)
        return x, target, shape

    def _weights_for(self, sample_weight, class_weight, target, n):
        w = None
        if sample_weight is not None:
            w = _inputs.check_sample_weight(sample_weight, n)
        if class_weight is not None:
            cw = _inputs.class_weight_to_sample(class_weight, target,
                                                self._output_units(), self.loss.sparse)
            w = cw if w is None else (w * cw).astype(_F32)
        return w

    # ---- training ------------------------------------------------------------
    @_distributed.collective("fit")        # [distributed] one collective call per rank
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None, validation_freq=1,
            max_queue_size=10, workers=1, use_multiprocessing=False, **kwargs):
        """Train for ``epochs`` epochs; returns a History."""
        if kwargs:
            import inspect
            names = [p for p in inspect.signature(Sequential.fit).parameters
                     if p not in ("self", "kwargs")]
            raise TypeError("fit got unexpected keyword arguments %s; the supported ones "
                            "are: %s" % (", ".join(sorted(kwargs)), ", ".join(names)))
        _unsupported.only_defaults("fit", steps_per_epoch=steps_per_epoch,
                                   validation_steps=validation_steps)
        self._check_compiled("training it (fit)")
        _unsupported.check_data(x, "fit")
        batch_size = whole("batch_size", 32 if batch_size is None else batch_size, 1)
        val_batch = whole("validation_batch_size", validation_batch_size or batch_size, 1)
        epochs = whole("epochs", epochs, 0)
        initial_epoch = whole("initial_epoch", initial_epoch, 0)
        verbose = check_verbose(verbose)
        if validation_freq != 1:
            raise ValueError("validation_freq=%r: fastdense validates after every epoch "
                             "(validation_freq=1)" % (validation_freq,))
        if shuffle not in (True, False, 1, 0):
            raise ValueError("shuffle must be True or False, got %r" % (shuffle,))
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
        x, target, shape = self._check_xy(x, y, "fit")
        weights = self._weights_for(sample_weight, class_weight, target, x.shape[0])
        val = val_weights = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or "
                                 "(x_val, y_val, val_sample_weight)")
            vx, vt, vshape = self._check_xy(validation_data[0], validation_data[1],
                                            "validation")
            if vshape != shape:
                raise ValueError("validation x has samples of shape %s but x has %s"
                                 % (vshape, shape))
            val = (vx, vt)
            if len(validation_data) == 3 and validation_data[2] is not None:
                val_weights = _inputs.check_sample_weight(validation_data[2], vx.shape[0],
                                                          "validation sample_weight")
        elif validation_split:
            n_all = x.shape[0]
            split_at = int(n_all * (1.0 - float(validation_split)))
            if split_at == 0 or split_at == n_all:
                raise ValueError("validation_split=%r of %d samples leaves %s"
                                 % (validation_split, n_all,
                                    "no training samples" if split_at == 0
                                    else "no validation samples"))
            val = (_inputs.rows(x, split_at, n_all), target[split_at:])
            if weights is not None:
                val_weights = weights[split_at:]
                weights = weights[:split_at]
            x, target = _inputs.rows(x, 0, split_at), target[:split_at]
        if x.shape[0] == 0:
            raise ValueError("fit needs at least one training sample")

        # ---- everything is valid: from here on the model changes
        self._agree(x=x, y=target, batch_size=batch_size, epochs=epochs,  # [distributed]
                    initial_epoch=initial_epoch, shuffle=bool(shuffle),
                    **{"sample weights": weights,
                       "validation x": None if val is None else val[0],
                       "validation y": None if val is None else val[1],
                       "validation sample weights": val_weights,
                       "validation batch size": val_batch if val is not None else None})
        self._ensure_built(shape)
        x, sparse = _inputs.choose_input_form(self, x, training=True)
        if val is not None:
            vx, vsparse = _inputs.choose_input_form(self, val[0], training=False)
            val = (vx, val[1], vsparse)
        trainer = _training.Trainer(self, x, target, batch_size, weights=weights,
                                    comm=self._comm(), sparse_kernels=sparse)
        return _training.run_fit(self, trainer, epochs, batch_size, verbose, cbs, val,
                                 bool(shuffle), initial_epoch, val_weights=val_weights,
                                 val_batch=val_batch)

    # ---- [distributed] hooks: fastdense.distributed decides -------------------------
    def _comm(self):
        """The running collective call's communicator (None: a world of one)."""
        return _distributed.call_comm()

    def _agree(self, **fields):
        """The agreement point of a collective call: all arguments are checked."""
        comm = self._comm()
        if comm is not None:
            comm.agree(self, **fields)

    def _is_main(self):
        """True where progress is printed and files are written (rank 0)."""
        return _distributed.is_main()

    @_distributed.collective("train_on_batch")   # [distributed]
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None,
                       reset_metrics=True, return_dict=False):
        """One gradient step on (x, y); returns [loss, *metrics] of that batch."""
        self._check_compiled("training it (train_on_batch)")
        x, target, shape = self._check_xy(x, y, "fit")
        weights = self._weights_for(sample_weight, class_weight, target, x.shape[0])
        n = x.shape[0]
        if n == 0:
            raise ValueError("train_on_batch needs at least one sample")
        self._agree(x=x, y=target, **{"sample weights": weights})   # [distributed]
        self._ensure_built(shape)
        x, sparse = _inputs.choose_input_form(self, x, training=True)
        trainer = _training.Trainer(self, x, target, n, weights=weights, comm=self._comm(),
                                    sparse_kernels=sparse)
        trainer.prepare()
        for mt in self.metrics:
            mt.reset_state()
        lo, hi = trainer.comm.local_rows(0, 0, n)     # [distributed] this rank's share
        loss_sum = trainer.step(None, lo, hi, batch_row=trainer.comm.batch_row)
        if trainer.comm.size > 1:                     # [distributed] the global batch's
            loss_sum = float(trainer.comm.reduce_sums([loss_sum])[0])
            for mt in self.metrics:
                mt.set_state_vector(trainer.comm.reduce_sums(mt.state_vector()))
        values = ([loss_sum / trainer.comm.global_batch(hi - lo)]     # [distributed]
                  + [mt.result() for mt in self.metrics])
        return self._results(values, return_dict)

    def _loss_and_gradients(self, x, y, sample_weight=None):
        """(mean loss, copies of the trainable gradients in Keras order) on (x, y).

        No weight or optimizer state changes; for tests and debugging."""
        self._check_compiled("computing gradients")
        x, target, shape = self._check_xy(x, y, "fit")
        weights = self._weights_for(sample_weight, None, target, x.shape[0])
        self._ensure_built(shape)
        x, sparse = _inputs.choose_input_form(self, x, training=True)
        n = x.shape[0]
        trainer = _training.Trainer(self, x, target, n, weights=weights,
                                    sparse_kernels=sparse)
        states = [mt.state_vector() for mt in self.metrics]
        loss_sum = trainer.step(None, 0, n, update=False)
        for mt, s in zip(self.metrics, states):
            mt.set_state_vector(s)
        grads = [g.copy() for l in self._layers
                 for g in (trainer.store.grads_for(l) or [])]
        return loss_sum / n, grads

    def test_on_batch(self, x, y, sample_weight=None, reset_metrics=True,
                      return_dict=False):
        """[loss, *metrics] on one batch, no update."""
        return self.evaluate(x, y, batch_size=max(1, len(x) if hasattr(x, "__len__")
                                                  else 1),
                             verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)

    def predict_on_batch(self, x):
        """The outputs for one batch (as predict)."""
        return self.predict(x, batch_size=max(1, np.shape(x)[0] if np.ndim(x) else 1))

    # ---- inference -------------------------------------------------------------
    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None,
                max_queue_size=10, workers=1, use_multiprocessing=False):
        """The last layer's outputs for x, float32 (N, units)."""
        _unsupported.only_defaults("predict", steps=steps, callbacks=callbacks)
        _unsupported.check_data(x, "predict")
        batch_size = whole("batch_size", 32 if batch_size is None else batch_size, 1)
        check_verbose(verbose)
        x, shape = _inputs.check_x(self, x)
        self._ensure_built(shape)
        x, sparse = _inputs.choose_input_form(self, x, training=False)
        out = _training.predict_arrays(self, x, batch_size, sparse_kernels=sparse)
        oshape = self._layer_output_shapes()[-1]
        return out.reshape((len(out),) + tuple(oshape)) if len(oshape) != 1 else out

    @_distributed.collective("evaluate")   # [distributed]
    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None,
                 steps=None, callbacks=None, max_queue_size=10, workers=1,
                 use_multiprocessing=False, return_dict=False):
        """[loss, *metrics] on (x, y) (the scalar loss when there are no metrics)."""
        self._check_compiled("evaluating it")
        _unsupported.only_defaults("evaluate", steps=steps, callbacks=callbacks)
        _unsupported.check_data(x, "evaluate")
        batch_size = whole("batch_size", 32 if batch_size is None else batch_size, 1)
        verbose = check_verbose(verbose)
        x, target, shape = self._check_xy(x, y, "evaluate")
        weights = (None if sample_weight is None else
                   _inputs.check_sample_weight(sample_weight, x.shape[0]))
        self._agree(x=x, y=target, **{"sample weights": weights})   # [distributed]
        self._ensure_built(shape)
        x, sparse = _inputs.choose_input_form(self, x, training=False)
        steps_n = max(1, int(np.ceil(x.shape[0] / batch_size)))
        bar = Progbar(steps_n, verbose=1) if verbose == 1 and self._is_main() else None
        results = _training.evaluate_arrays(self, x, target, batch_size, weights=weights,
                                            bar=bar, comm=self._comm(),
                                            sparse_kernels=sparse)
        if bar is not None:
            bar.update(steps_n, list(zip(self.metrics_names, results)))
        return self._results(results, return_dict)

    def _results(self, values, return_dict):
        if return_dict:
            return dict(zip(self.metrics_names, values))
        return values if self.metrics else values[0]

    # ---- persistence ------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "trainable": self._trainable,
                "layers": [_layers.serialize(l) for l in self._layers],
                "build_input_shape": (None if self._build_input_shape is None
                                      else [None] + list(self._build_input_shape))}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return _saving.sequential_from_config(cls, config)

    def to_json(self, **kwargs):
        return _saving.to_json(self, **kwargs)

    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None):
        """Write config, weights and optimizer state to exactly ``filepath``."""
        if not self._is_main():       # [distributed] rank 0 alone writes files
            return
        _saving.save_model(self, filepath, overwrite=overwrite,
                           include_optimizer=include_optimizer, save_format=save_format)

    def save_weights(self, filepath, overwrite=True, save_format=None):
        """Write the weights alone (load them with ``load_weights``)."""
        if not self._is_main():       # [distributed] rank 0 alone writes files
            return
        _saving.save_weights(self, filepath, overwrite=overwrite, save_format=save_format)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False):
        """Read weights written by ``save_weights`` (or ``save``) into this model."""
        _saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    def __getattr__(self, name):
        return _unsupported.model_attribute(self, name)


def _metric_config(given, metric):
    """How a compiled metric is stored in a model file."""
    if isinstance(given, str):
        return given
    try:
        return _metrics.serialize(metric)
    except ValueError:      # a Python function: stored by name, restored via custom_objects
        return {"function": metric.name}


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with the same layers' configs and fresh weights (as Keras)."""
    return _saving.clone_model(model, input_tensors=input_tensors,
                               clone_function=clone_function)


def __getattr__(name):
    if name in ("Model", "Functional", "Network"):
        raise _unsupported.missing(
            "models.%s" % name, name, "the functional Model API (inputs -> outputs graphs) "
            "is not supported; a stack of layers is models.Sequential([...])",
            have="Sequential, load_model, save_model, clone_model, model_from_json, "
                 "model_from_config")
    raise AttributeError("module 'fastdense.models' has no attribute %r" % name)
