"""The idiomatic NumPy script, as it was run from the source tree.

The script now lives inside the package, ``fastdense/bench/numpy_mnist.py``
(so that ``fastdense bench`` from an installed wheel runs it too); this file
keeps ``python benchmarks/numpy_mnist.py --epochs 5 --threads 2`` working and
re-exports its names (``NumpyMLP``, ``glorot_uniform``, ``load_mnist``, ``main``).
"""
import os
import sys

try:
    from fastdense.bench.numpy_mnist import NumpyMLP, glorot_uniform, load_mnist, main
except ImportError:  # a source checkout that is not installed: import it from here
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from fastdense.bench.numpy_mnist import NumpyMLP, glorot_uniform, load_mnist, main

__all__ = ["NumpyMLP", "glorot_uniform", "load_mnist", "main"]

if __name__ == "__main__":
    sys.exit(main())
