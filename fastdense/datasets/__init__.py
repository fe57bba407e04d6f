"""Datasets the Keras way: ``mnist``, ``fashion_mnist``, and the IDX format.

>>> from fastdense.datasets import mnist
>>> (x_train, y_train), (x_test, y_test) = mnist.load_data()     # doctest: +SKIP

Where the data is looked for (``FASTDENSE_DATA``, the cache under
``FASTDENSE_HOME``, a download) and how it is verified is described in
:mod:`fastdense.datasets._loader` and in each ``load_data`` docstring.
:func:`read_idx` and :func:`write_idx` read and write any IDX file.
"""
from .idx import IDXError, read_idx, read_idx_info, write_idx
from ._loader import DownloadError, data_home
from . import mnist, fashion_mnist

__all__ = ["mnist", "fashion_mnist", "read_idx", "read_idx_info", "write_idx",
           "IDXError", "DownloadError", "data_home"]
