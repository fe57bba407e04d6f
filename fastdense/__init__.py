"""fastdense: dense neural networks on C/OpenMP kernels, the Keras way.

>>> import fastdense
>>> fastdense.backend()          # 'c' when the compiled kernels loaded
>>> from fastdense import models, layers
"""
import importlib

__version__ = "0.1.0"

from ._config import (backend, set_backend, use_backend, get_num_threads,
                      set_num_threads, show_config)
from ._config import set_sparse_inputs, get_sparse_inputs, use_sparse_inputs
from . import ops

# The Keras-style modules load on first use (fastdense.models, ...), so that
# `import fastdense` for the drop-in ops stays light.
_SUBMODULES = ("models", "layers", "optimizers", "losses", "activations",
               "metrics", "callbacks", "utils", "datasets", "reference",
               "regularizers", "initializers", "schedules", "engine")

__all__ = ["__version__", "backend", "set_backend", "use_backend",
           "get_num_threads", "set_num_threads", "show_config", "ops",
           "set_sparse_inputs", "get_sparse_inputs", "use_sparse_inputs"] + list(_SUBMODULES)


#: Keras modules fastdense does not have, and what to use instead
_NOT_HERE = {
    "preprocessing": "keras.preprocessing is not supported: use NumPy; fastdense.utils.multi_hot turns word "
                     "indices into multi-hot rows",
    "applications": "pretrained (convolutional) networks are not included",
    "mixed_precision": "fastdense computes in float32",
    "Model": "the functional Model API is not supported; use models.Sequential",
    "Sequential": "it lives in fastdense.models: from fastdense import models; "
                  "models.Sequential()",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    if name in _NOT_HERE:
        from ._unsupported import missing
        raise missing("fastdense.%s" % name, name, _NOT_HERE[name])
    raise AttributeError("module 'fastdense' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
