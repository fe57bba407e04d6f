"""fastdense: dense neural networks on C/OpenMP kernels, the Keras way.

>>> import fastdense
>>> fastdense.backend()          # 'c' when the compiled kernels loaded
"""
__version__ = "0.1.0"

from ._config import (backend, set_backend, use_backend, get_num_threads,
                      set_num_threads, show_config)
from . import ops

__all__ = ["__version__", "backend", "set_backend", "use_backend",
           "get_num_threads", "set_num_threads", "show_config", "ops"]
