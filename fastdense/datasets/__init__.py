"""Datasets the Keras way: ``mnist``, ``fashion_mnist``, ``imdb``,
``reuters``, ``boston_housing``, and the IDX format.

>>> from fastdense.datasets import mnist
>>> (x_train, y_train), (x_test, y_test) = mnist.load_data()     # doctest: +SKIP

Where the data is looked for (``FASTDENSE_DATA``, the cache under
``FASTDENSE_HOME``, a download) and how it is verified is described in
:mod:`fastdense.datasets._loader` and in each ``load_data`` docstring.
:func:`read_idx` and :func:`write_idx` read and write any IDX file.
Keras datasets that fastdense does not ship (``cifar10``, ``cifar100``,
``california_housing``) are an ImportError that says so.
"""
from .idx import IDXError, read_idx, read_idx_info, write_idx
from ._loader import DownloadError, data_home
from . import mnist, fashion_mnist
# -- text and regression datasets (imdb, reuters, boston_housing)
from . import imdb, reuters, boston_housing

__all__ = ["mnist", "fashion_mnist", "read_idx", "read_idx_info", "write_idx",
           "IDXError", "DownloadError", "data_home"]
__all__ += ["imdb", "reuters", "boston_housing"]

DATASETS = ("boston_housing", "fashion_mnist", "imdb", "mnist", "reuters")

# Modules of keras.datasets (2.3.1 and later) that fastdense does not ship.
_NOT_SHIPPED = ("cifar10", "cifar100", "cifar", "california_housing")


class DatasetNotShipped(ImportError):
    """A Keras dataset that fastdense does not ship."""


def __getattr__(name):
    # Raised as an ImportError (not AttributeError) so that the message
    # reaches users of ``from fastdense.datasets import cifar10``: for an
    # AttributeError the import machinery would print its own message.
    if name in _NOT_SHIPPED:
        raise DatasetNotShipped(
            "fastdense does not ship the Keras dataset %r; fastdense.datasets "
            "has %s. To use another dataset, load it as NumPy arrays (with "
            "Keras, say) and pass them to fit()." % (name, ", ".join(DATASETS)),
            name="fastdense.datasets." + name)
    raise AttributeError("module 'fastdense.datasets' has no attribute %r"
                         % (name,))
