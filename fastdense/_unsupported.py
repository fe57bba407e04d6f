"""What fastdense does not have, said plainly.

fastdense builds dense (fully connected) networks, trained on in-memory NumPy
arrays or scipy.sparse matrices.  A Keras user reaching for something outside
that -- a convolutional or recurrent layer, the functional ``Model``, a
``tf.data`` pipeline, a generator -- gets an error that says so and points to
what exists, instead of a bare AttributeError or TypeError.
"""

__all__ = ["UnsupportedError", "only_defaults", "check_data", "model_attribute",
           "missing", "KERAS_LAYERS", "KERAS_MODEL_ATTRIBUTES"]

DENSE_ONLY = "fastdense builds dense (fully connected) networks"


class UnsupportedError(NotImplementedError, AttributeError):
    """A Keras feature fastdense does not provide.

    It is a NotImplementedError (what it means) and an AttributeError (so
    ``hasattr`` and ``getattr(obj, name, default)`` keep working)."""


#: Keras layer names fastdense does not have, with what to use instead
KERAS_LAYERS = {
    **{n: "convolutional layers are not supported" for n in (
        "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose",
        "Conv1DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv2D",
        "Convolution1D", "Convolution2D", "Convolution3D", "LocallyConnected1D",
        "LocallyConnected2D", "ConvLSTM2D")},
    **{n: "pooling layers are not supported (they go with convolutions)" for n in (
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
        "AveragePooling2D", "AveragePooling3D", "GlobalMaxPooling1D",
        "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
        "MaxPool1D", "MaxPool2D", "AvgPool2D", "UpSampling1D", "UpSampling2D",
        "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D")},
    **{n: "recurrent layers are not supported" for n in (
        "SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "TimeDistributed",
        "SimpleRNNCell", "LSTMCell", "GRUCell", "CuDNNLSTM", "CuDNNGRU",
        "StackedRNNCells")},
    "Embedding": "Embedding is not supported; for bag-of-words inputs use "
                 "fastdense.utils.multi_hot and a Dense layer",
    "BatchNormalization": "BatchNormalization is not supported",
    "LayerNormalization": "LayerNormalization is not supported",
    "MultiHeadAttention": "attention layers are not supported",
    "Attention": "attention layers are not supported",
    "Concatenate": "merge layers need the functional API, which fastdense does not have",
    "Add": "merge layers need the functional API, which fastdense does not have",
    "Multiply": "merge layers need the functional API, which fastdense does not have",
    "Lambda": "Lambda layers are not supported; an elementwise Python function can be "
              "an activation (Dense(units, activation=fn))",
    "Reshape": "Reshape is not supported; Flatten is",
    "Permute": "Permute is not supported",
    "RepeatVector": "RepeatVector is not supported",
    "Masking": "Masking is not supported",
    "GaussianNoise": "GaussianNoise is not supported; Dropout is",
    "GaussianDropout": "GaussianDropout is not supported; Dropout is",
    "AlphaDropout": "AlphaDropout is not supported; Dropout is",
    "SpatialDropout1D": "SpatialDropout1D is not supported; Dropout is",
    "SpatialDropout2D": "SpatialDropout2D is not supported; Dropout is",
    "TextVectorization": "TextVectorization is not supported; see "
                         "fastdense.utils.multi_hot",
    "Normalization": "Normalization is not supported; scale the inputs with NumPy",
    "Rescaling": "Rescaling is not supported; scale the inputs with NumPy (x / 255)",
}

#: Keras Model attributes fastdense does not have
KERAS_MODEL_ATTRIBUTES = {
    "fit_generator": "generators are not supported: pass NumPy arrays (or a "
                     "scipy.sparse matrix) to fit",
    "evaluate_generator": "generators are not supported: pass NumPy arrays to evaluate",
    "predict_generator": "generators are not supported: pass NumPy arrays to predict",
    "to_yaml": "YAML configs are not supported; use to_json",
    "reset_states": "stateful (recurrent) models are not supported",
    "add_loss": "custom loss tensors are not supported; give compile a loss function",
    "add_metric": "custom metric tensors are not supported; give compile a metric "
                  "function",
    "inputs": "fastdense has no symbolic tensors; model.input_shape gives the shape",
    "outputs": "fastdense has no symbolic tensors; model.output_shape gives the shape",
    "input": "fastdense has no symbolic tensors; model.input_shape gives the shape",
    "output": "fastdense has no symbolic tensors; model.output_shape gives the shape",
    "distribute_strategy": "tf.distribute is not supported; see fastdense.distributed "
                           "(MPI data-parallel training)",
}


def missing(what, name, reason, have=None):
    msg = "%s: %s. %s." % (what, reason, DENSE_ONLY)
    if have:
        msg += " It has: %s." % have
    return UnsupportedError(msg)


def only_defaults(function, **options):
    """Raise for Keras arguments fastdense accepts only at their default (None)."""
    for key, value in options.items():
        if value is not None:
            raise ValueError("%s(%s=%r): fastdense does not support %s; leave it at its "
                             "default" % (function, key, value, key))


def check_data(x, function):
    """tf.data datasets, generators and Keras Sequences get a clear error."""
    if x is None:
        return
    kind = type(x).__module__ + "." + type(x).__name__
    if "tensorflow" in kind or "tf.data" in kind or hasattr(x, "element_spec"):
        raise TypeError("%s got a %s: tf.data pipelines are not supported; %s from "
                        "in-memory arrays: pass NumPy arrays (or a scipy.sparse "
                        "matrix)" % (function, type(x).__name__, DENSE_ONLY))
    if hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "on_epoch_end")
                                  and not hasattr(x, "shape")):
        raise TypeError("%s got a generator / Sequence (%s): fastdense trains on "
                        "in-memory NumPy arrays (or a scipy.sparse matrix); "
                        "np.concatenate the batches first" % (function, type(x).__name__))


def model_attribute(model, name):
    """The AttributeError for a missing model attribute (a clear one for Keras names)."""
    if name.startswith("_"):
        raise AttributeError(name)
    if name in KERAS_MODEL_ATTRIBUTES:
        raise missing("Sequential.%s" % name, name, KERAS_MODEL_ATTRIBUTES[name])
    raise AttributeError("'%s' object has no attribute %r" % (type(model).__name__, name))


def explain_keywords(namespace):
    """Make every public class in ``namespace`` name its supported arguments when
    it is given an unknown one (Python's own TypeError does not list them).

    Classes whose ``__init__`` takes ``**kwargs`` check their arguments
    themselves and are left alone."""
    import functools
    import inspect
    for name, cls in list(namespace.items()):
        if name.startswith("_") or not isinstance(cls, type) \
                or cls.__module__ != namespace.get("__name__"):
            continue
        init = cls.__init__
        if init is object.__init__ or getattr(init, "_explains_keywords", None) is cls:
            continue
        init = getattr(init, "__wrapped__", init)
        sig = inspect.signature(init)
        params = list(sig.parameters.values())
        if any(p.kind == p.VAR_KEYWORD for p in params):
            continue
        supported = ", ".join(p.name for p in params[1:] if p.kind != p.VAR_POSITIONAL)

        def wrap(init=init, sig=sig, cls=cls, supported=supported):
            @functools.wraps(init)
            def __init__(self, *args, **kwargs):
                try:
                    sig.bind(self, *args, **kwargs)
                except TypeError as exc:
                    raise TypeError("%s: %s; the supported arguments are: %s"
                                    % (cls.__name__, exc, supported or "none")) from None
                init(self, *args, **kwargs)
            __init__._explains_keywords = cls
            return __init__
        cls.__init__ = wrap()
