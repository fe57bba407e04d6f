"""``Input(shape)`` / ``InputLayer``: declares the per-sample input shape.

In a Sequential model it only fixes the shape the model takes (so the first
real layer needs no ``input_shape``); it computes nothing.
"""
from .base import Layer, shape_tuple

__all__ = ["InputLayer", "Input"]


class InputLayer(Layer):
    """The model's input: ``InputLayer(input_shape=(28, 28))``."""

    passthrough = True

    def __init__(self, input_shape=None, batch_size=None, dtype=None, sparse=False,
                 name=None, **kwargs):
        if input_shape is None and "batch_input_shape" not in kwargs \
                and "input_dim" not in kwargs:
            raise ValueError("InputLayer needs the per-sample shape, e.g. "
                             "InputLayer(input_shape=(784,)) or Input(shape=(784,))")
        if not isinstance(sparse, bool):
            raise ValueError("sparse must be True or False, got %r" % (sparse,))
        # sparse=True: accepted, as Keras does; fit/evaluate/predict take
        # scipy.sparse inputs whatever this flag says.
        self.sparse = sparse
        super().__init__(input_shape=input_shape, name=name, dtype=dtype,
                         batch_size=batch_size, **kwargs)

    @classmethod
    def _name_prefix(cls):
        return "input"

    def get_config(self):
        config = super().get_config()
        config["sparse"] = self.sparse
        return config


def Input(shape=None, batch_size=None, name=None, dtype=None, sparse=False, tensor=None,
          batch_shape=None, **kwargs):
    """The Keras ``Input(shape=...)``, as the first entry of a Sequential model."""
    if tensor is not None:
        raise ValueError("Input(tensor=...): fastdense has no symbolic tensors; give "
                         "shape=(...) and pass the data to fit/predict")
    if kwargs:
        raise TypeError("Input got unexpected keyword arguments %s; the supported ones "
                        "are: shape, batch_size, name, dtype, sparse, batch_shape"
                        % ", ".join(sorted(kwargs)))
    if batch_shape is not None:
        shape = shape_tuple(batch_shape, "batch_shape")[1:]
    if shape is None:
        raise ValueError("Input needs shape=(features,) or a per-sample shape such as "
                         "shape=(28, 28)")
    return InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                      sparse=sparse)
