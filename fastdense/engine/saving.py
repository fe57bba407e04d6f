"""Model and weight files: save / load_model, save_weights / load_weights, JSON.

A model file is an ``.npz`` archive written atomically through
``fastdense/_atomic.py`` to exactly the path given (no suffix added):

* ``config``: JSON with the format tag and version, the model config (each
  layer through its own ``get_config``), the per-sample input shape, the
  compile arguments, the trainable flags fit uses, and the optimizer's step
  counter;
* ``weight_<i>``: every weight in Keras order (float32);
* ``optimizer_state_<i>``: the optimizer's flat state vectors over the
  parameters it trains (absent when the optimizer has not stepped yet).

Format 1 (the first release: Dense layers only, all trainable) still loads.
A weights file (``save_weights``) holds the weights and a list of the layers
they belong to; ``load_weights`` also reads the weights out of a model file.
Every reader treats a file that is not a complete, valid fastdense file as a
ValueError naming it, and changes nothing before the whole file checks out.
"""
import json
import os

import numpy as np

from .._atomic import atomic_file

__all__ = ["save_model", "load_model", "save_weights", "load_weights",
           "model_from_config", "model_from_json", "sequential_from_config", "to_json",
           "clone_model"]

_F32 = np.float32
FORMAT = "fastdense.model"
WEIGHTS_FORMAT = "fastdense.weights"
FORMAT_VERSION = 2


def _check_format(save_format):
    if save_format not in (None, "npz", "fastdense"):
        raise ValueError("save_format=%r: fastdense writes its own .npz format "
                         "(save_format=None); HDF5 and SavedModel are not supported"
                         % (save_format,))


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError("%s exists and overwrite=False" % path)


def _write_npz(path, arrays):
    with atomic_file(path) as f:
        np.savez(f, **arrays)


def _read_npz(path):
    with open(path, "rb"):     # FileNotFoundError / PermissionError / IsADirectoryError
        pass
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:
        raise ValueError("%s is not a valid fastdense file (%s: %s)"
                         % (path, type(exc).__name__, exc)) from exc


def _config_of(arrays):
    if "config" not in arrays:
        raise ValueError("no config entry")
    config = json.loads(str(arrays["config"][()]))
    if not isinstance(config, dict):
        raise ValueError("the config entry is not a JSON object")
    return config


# ---- whole models -----------------------------------------------------------------

def _trained_layers(model):
    snap = model._trainable_snapshot()
    return [l for l in model._unique_layers() if id(l) in snap and l.param_shapes()]


def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None):
    """Write ``model`` to exactly ``filepath`` (atomically: see the module notes)."""
    _check_format(save_format)
    path = os.fspath(filepath)
    _check_overwrite(path, overwrite)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "class_name": "Sequential", "config": model.get_config(),
              "input_shape": (None if model._input_shape() is None
                              else list(model._input_shape())),
              "compile": model._compile_config}
    arrays = {}
    weights = model.get_weights() if model.built else []
    for i, w in enumerate(weights):
        arrays["weight_%d" % i] = w
    config["n_weights"] = len(weights)
    if model._compiled_trainable is not None:
        config["compiled_trainable"] = [bool(model._compiled_trainable.get(
            id(l), model._effective_trainable(l))) for l in model.layers]
    opt_state = None
    if include_optimizer and model.optimizer is not None:
        iterations, state = model.optimizer.get_state()
        opt_state = {"iterations": int(iterations), "n_arrays": len(state),
                     "layers": [l.name for l in _trained_layers(model)]}
        for i, a in enumerate(state):
            arrays["optimizer_state_%d" % i] = a
    config["optimizer_state"] = opt_state
    arrays["config"] = np.array(json.dumps(config))
    _write_npz(path, arrays)


def load_model(filepath, custom_objects=None, compile=True):
    """Rebuild a model written by ``save``.

    A missing file is FileNotFoundError; a file that is not a complete, valid
    fastdense model (truncated, corrupt, edited) is a ValueError naming it.
    """
    path = os.fspath(filepath)
    arrays = _read_npz(path)
    try:
        return _model_from_arrays(arrays, compile, custom_objects)
    except Exception as exc:
        raise ValueError("%s is not a valid fastdense model file (%s: %s)"
                         % (path, type(exc).__name__, exc)) from exc


def _v1_to_v2(config):
    """Format 1: Dense layers only, 'input_dim', every layer trainable."""
    config = dict(config)
    dim = config.get("input_dim")
    if dim is not None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError("input_dim must be a whole number >= 1, got %r" % (dim,))
        config["input_shape"] = [dim]
    for lc in config["config"]["layers"]:
        if not isinstance(lc, dict) or lc.get("class_name") != "Dense":
            raise ValueError("unknown layer %r" % (lc,))
    return config


def _model_from_arrays(arrays, compile, custom_objects=None):
    from ..models import Sequential
    from .. import optimizers as _optimizers
    config = _config_of(arrays)
    if config.get("format") != FORMAT:
        raise ValueError("not a fastdense model (format tag missing)")
    version = config.get("format_version")
    if version == 1:
        config = _v1_to_v2(config)
    elif version != FORMAT_VERSION:
        raise ValueError("unsupported format_version %r" % (version,))
    if config.get("class_name") != "Sequential":
        raise ValueError("unknown model class %r" % (config.get("class_name"),))
    model = sequential_from_config(Sequential, config["config"])
    shape = config.get("input_shape")
    n_weights = int(config.get("n_weights", 0))
    if shape is not None:
        shape = tuple(shape)
        if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError("bad input_shape %r" % (shape,))
        if model.built and tuple(model._input_shape()) != shape:
            raise ValueError("input_shape %r disagrees with the first layer's input "
                             "shape %r" % (shape, model._input_shape()))
        model._ensure_built(shape)
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
        model.compile(optimizer=opt,
                      loss=_loss_from_config(compile_config["loss"], custom_objects),
                      metrics=[_metric_from_config(m, custom_objects)
                               for m in compile_config.get("metrics") or []])
        flags = config.get("compiled_trainable")
        if flags is not None:
            if len(flags) != len(model.layers) or not all(isinstance(f, bool) for f in flags):
                raise ValueError("compiled_trainable does not match the layers")
            model._compiled_trainable = {id(l): f for l, f in zip(model.layers, flags)}
        state = config.get("optimizer_state")
        if state is not None:
            _restore_optimizer(model, opt, state, arrays)
    return model


def _custom(name, custom_objects, what):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    raise ValueError("the model was compiled with the Python function %r as its %s, "
                     "which a file cannot hold: load_model(path, custom_objects={%r: "
                     "fn}) or load_model(path, compile=False)" % (name, what, name))


def _loss_from_config(loss, custom_objects=None):
    from .. import losses as _losses
    if isinstance(loss, dict) and "function" in loss:
        return _custom(loss["function"], custom_objects, "loss")
    if isinstance(loss, dict) and hasattr(_losses, "deserialize"):
        return _losses.deserialize(loss)
    return loss


def _metric_from_config(metric, custom_objects=None):
    if isinstance(metric, dict) and "function" in metric:
        return _custom(metric["function"], custom_objects, "metric")
    return metric


def _restore_optimizer(model, opt, state, arrays):
    n = int(state["n_arrays"])
    iterations = int(state["iterations"])
    if iterations < 0:
        raise ValueError("negative optimizer iterations")
    stored = [arrays["optimizer_state_%d" % i] for i in range(n)]
    if not stored:        # compiled, never stepped: nothing to restore
        opt.iterations = iterations
        return
    if not model.built:
        raise ValueError("optimizer state stored for an unbuilt model")
    trained = _trained_layers(model)
    names = state.get("layers")
    if names is not None and names != [l.name for l in trained]:
        raise ValueError("the optimizer state is for layers %r, the model trains %r"
                         % (names, [l.name for l in trained]))
    size = int(sum(l.param_buffer.size for l in trained))
    for a in stored:
        if a.dtype != _F32 or a.ndim != 1 or a.size != size:
            raise ValueError("optimizer state does not match the weights")
    opt.set_state(iterations, stored, n_params=size)


def sequential_from_config(cls, config):
    from .. import layers as _layers
    if isinstance(config, list):              # Keras 2.2 style: a list of layers
        config = {"layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a Sequential config is a dict with a 'layers' list")
    layer_list = [_layers.deserialize(lc) for lc in config["layers"]]
    model = cls(name=config.get("name"))
    trainable = config.get("trainable", True)
    if not isinstance(trainable, bool):
        raise ValueError("model trainable must be true or false, got %r" % (trainable,))
    model.trainable = trainable
    build_shape = config.get("build_input_shape")
    if build_shape is not None:
        build_shape = tuple(build_shape)[1:]
        if not build_shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
                                  for d in build_shape):
            raise ValueError("bad build_input_shape %r" % (config.get("build_input_shape"),))
        if layer_list and layer_list[0].input_shape is None:
            model._build_input_shape = build_shape
    for layer in layer_list:
        model.add(layer)
    return model


def model_from_config(config, custom_objects=None):
    """A model from ``{'class_name': 'Sequential', 'config': ...}``."""
    from ..models import Sequential
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        raise ValueError("fastdense builds Sequential models; the config's class_name "
                         "is %r" % (config.get("class_name") if isinstance(config, dict)
                                    else config,))
    return sequential_from_config(Sequential, config.get("config"))


def to_json(model, **kwargs):
    from .. import __version__
    return json.dumps({"class_name": "Sequential", "config": model.get_config(),
                       "backend": "fastdense", "fastdense_version": __version__},
                      **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from ``model.to_json()``."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as exc:
        raise ValueError("model_from_json needs the JSON text of model.to_json(): %s"
                         % exc)
    return model_from_config(config)


def clone_model(model, input_tensors=None, clone_function=None):
    from ..models import Sequential
    if input_tensors is not None:
        raise ValueError("clone_model(input_tensors=...): fastdense has no symbolic "
                         "tensors")
    if not isinstance(model, Sequential):
        raise ValueError("clone_model takes a fastdense Sequential model, got %r" % (model,))
    if clone_function is not None:
        layers = [clone_function(l) for l in model.layers]
        clone = Sequential(name=model.name)
        clone.trainable = model.trainable
        if model._build_input_shape is not None and layers and layers[0].input_shape is None:
            clone._build_input_shape = model._build_input_shape
        for layer in layers:
            clone.add(layer)
        return clone
    return sequential_from_config(Sequential, model.get_config())


# ---- weights alone ------------------------------------------------------------------

def save_weights(model, filepath, overwrite=True, save_format=None):
    _check_format(save_format)
    model._require_built("save_weights")
    path = os.fspath(filepath)
    _check_overwrite(path, overwrite)
    layers = [{"name": l.name, "class_name": type(l).__name__,
               "shapes": [list(s) for s in l.param_shapes()]} for l in model.layers]
    weights = model.get_weights()
    config = {"format": WEIGHTS_FORMAT, "format_version": 1, "layers": layers,
              "n_weights": len(weights)}
    arrays = {"weight_%d" % i: w for i, w in enumerate(weights)}
    arrays["config"] = np.array(json.dumps(config))
    _write_npz(path, arrays)


def _weights_by_layer(arrays, path):
    """[(layer name, [arrays])] from a weights file or a model file."""
    config = _config_of(arrays)
    fmt = config.get("format")
    weights = [arrays["weight_%d" % i] for i in range(int(config.get("n_weights", 0)))]
    if fmt == WEIGHTS_FORMAT:
        out, i = [], 0
        for lc in config["layers"]:
            k = len(lc["shapes"])
            out.append((lc["name"], weights[i:i + k]))
            i += k
        if i != len(weights):
            raise ValueError("the layer list does not account for every weight")
        return out
    if fmt == FORMAT:
        layers = config["config"]["layers"]
        out, i = [], 0
        for lc in layers:
            c = lc.get("config", {})
            k = (1 + (1 if c.get("use_bias", True) else 0)) if lc.get("class_name") == "Dense" \
                else 0
            out.append((c.get("name"), weights[i:i + k]))
            i += k
        if i != len(weights):
            raise ValueError("only Dense layers carry weights; the config and the "
                             "weights disagree")
        return out
    raise ValueError("not a fastdense weights or model file")


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    path = os.fspath(filepath)
    arrays = _read_npz(path)
    try:
        stored = _weights_by_layer(arrays, path)
    except Exception as exc:
        raise ValueError("%s is not a valid fastdense weights file (%s: %s)"
                         % (path, type(exc).__name__, exc)) from exc
    model._require_built("load_weights")
    targets = [l for l in model.layers if l.param_shapes()]
    stored = [(n, w) for n, w in stored if w]
    pairs = []
    if by_name:
        by = dict(stored)
        for layer in targets:
            if layer.name in by:
                pairs.append((layer, by[layer.name]))
    else:
        if len(stored) != len(targets):
            raise ValueError("%s holds weights for %d layers, the model has %d layers "
                             "with weights (load_weights(..., by_name=True) matches by "
                             "layer name)" % (path, len(stored), len(targets)))
        pairs = list(zip(targets, (w for _, w in stored)))
    checked = []
    for layer, ws in pairs:
        shapes = [tuple(s) for s in layer.param_shapes()]
        ok = len(ws) == len(shapes) and all(w.shape == s for w, s in zip(ws, shapes))
        if not ok:
            if skip_mismatch:
                continue
            raise ValueError("%s: the weights for layer %s have shapes %s, the layer "
                             "expects %s" % (path, layer.name, [w.shape for w in ws], shapes))
        if any(w.dtype != _F32 for w in ws):
            raise ValueError("%s: weights must be float32" % path)
        checked.append((layer, ws))
    for layer, ws in checked:           # everything checked: now change the model
        layer.set_weights(ws)
