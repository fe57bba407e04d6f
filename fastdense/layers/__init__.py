"""Layers, the Keras way (``from fastdense import layers``).

==================  =========================================================
``Dense``           ``activation(x @ kernel + bias)``
``Activation``      an activation on its own: ``Activation('relu')``
``Dropout``         inverted dropout in fit: ``Dropout(0.5, seed=None)``
``Flatten``         ``(N, 28, 28) -> (N, 784)``
``LeakyReLU``,      Keras's activation layers (``LeakyReLU(alpha=0.3)``, ...)
``ELU``, ``ReLU``,
``Softmax``
``Input``           ``Input(shape=(28, 28))`` as the first entry of a model
``InputLayer``      the layer behind ``Input``
==================  =========================================================

A layer declares its parameters, its workspace, and its forward and backward
as kernel calls (see ``layers/base.py``); the engine (``fastdense/engine/``)
does the rest.  Layers that fastdense does not have (convolutions, recurrent
layers, ...) raise an error saying so, not a bare AttributeError.
"""
from .base import Layer
from .core import ELU, Activation, Dense, Flatten, LeakyReLU, ReLU, Softmax
from .dropout import Dropout
from .input_layer import Input, InputLayer
from .. import initializers as _initializers

__all__ = ["Layer", "Dense", "Activation", "Dropout", "Flatten", "LeakyReLU", "ELU",
           "ReLU", "Softmax", "Input", "InputLayer",
           "serialize", "deserialize", "get_initializer"]

get_initializer = _initializers.get

_REGISTRY = {"Dense": Dense, "Activation": Activation, "Dropout": Dropout,
             "Flatten": Flatten, "LeakyReLU": LeakyReLU, "ELU": ELU, "ReLU": ReLU,
             "Softmax": Softmax,
             "InputLayer": InputLayer}


def register(cls):
    """Make ``cls`` loadable from saved configs (used by the layer modules)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    if not isinstance(config, dict) or config.get("class_name") not in _REGISTRY:
        raise ValueError("unknown layer config %r: fastdense has %s"
                         % (config, ", ".join(sorted(_REGISTRY))))
    try:
        return _REGISTRY[config["class_name"]].from_config(dict(config.get("config", {})))
    except TypeError as exc:
        raise ValueError("bad layer config %r: %s" % (config, exc))


def __getattr__(name):
    from .. import _unsupported
    if name in _unsupported.KERAS_LAYERS:
        raise _unsupported.missing("layers.%s" % name, name, _unsupported.KERAS_LAYERS[name],
                                   have=", ".join(sorted(_REGISTRY)))
    raise AttributeError("module 'fastdense.layers' has no attribute %r; the layers are: %s"
                         % (name, ", ".join(sorted(_REGISTRY))))
