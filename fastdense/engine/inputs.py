"""Input checks: every array a user hands to fit/evaluate/predict, checked once.

``check_x`` turns x into what the engine computes on: a C-contiguous float32
``(N, features)`` array (a per-sample shape such as ``(28, 28)`` flattened in
C order, which is what ``Flatten`` means), or -- for scipy.sparse input -- the
compressed rows of ``fastdense._sparse``, never densified.  Errors are
ValueErrors that say what was expected and how to get there ("reshape to
(N, 784)").  Nothing here changes the model.
"""
import sys

import numpy as np

__all__ = ["check_x", "check_xy", "check_sample_weight", "class_weight_to_sample",
           "is_sparse_input", "model_input_shape", "shape_text"]

_F32 = np.float32


def shape_text(shape):
    """``(N, 28, 28)`` for a per-sample shape ``(28, 28)``."""
    return "(N, %s)" % ", ".join(str(d) for d in shape)


def is_sparse_input(x):
    """True for a scipy.sparse matrix or array (without importing scipy)."""
    if "scipy.sparse" not in sys.modules:
        return False
    return sys.modules["scipy.sparse"].issparse(x)


def model_input_shape(model):
    """The per-sample input shape the model takes, or None while unknown."""
    return model._input_shape()


def _check_dense(model, x, where):
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError("%s must be a numeric array: %s" % (where, exc))
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise ValueError("%s must be a numeric array, got dtype %s" % (where, arr.dtype))
    if np.iscomplexobj(arr):
        raise ValueError("%s must be real numbers, got dtype %s" % (where, arr.dtype))
    expected = model_input_shape(model)
    got = arr.shape[1:] if arr.ndim >= 1 else None
    if expected is None:
        if arr.ndim < 2:
            raise ValueError("expected %s of shape (N, features), got %s: a single "
                             "sample needs x.reshape(1, -1), a list of scalars "
                             "x.reshape(-1, 1)" % (where, arr.shape))
        expected = tuple(got)
    if arr.ndim < 1 or tuple(got) != tuple(expected):
        want = int(np.prod(expected))
        flat = int(np.prod(got)) if arr.ndim >= 2 else None
        msg = "expected %s of shape %s, got %s" % (where, shape_text(expected), arr.shape)
        if flat == want:
            if len(expected) == 1:
                msg += ": reshape to %s, e.g. %s.reshape(len(%s), %d)" % (
                    shape_text(expected), where, where, want)
            else:
                msg += ": reshape to %s, e.g. %s.reshape((len(%s),) + %r)" % (
                    shape_text(expected), where, where, tuple(expected))
        elif arr.ndim == 1 and arr.shape[0] == want:
            msg += ": a single sample needs reshape to (1, %s)" % ", ".join(
                str(d) for d in expected)
        else:
            msg += ": the model takes %d values per sample" % want
        raise ValueError(msg)
    features = int(np.prod(expected))
    if features < 1:
        raise ValueError("%s has no features (shape %s)" % (where, arr.shape))
    out = np.ascontiguousarray(arr, dtype=_F32)
    return out.reshape(len(out), features), tuple(expected)


def _check_sparse(model, x, where):
    from .. import _sparse
    expected = model_input_shape(model)
    csr = _sparse.from_scipy(x, where=where)
    n, features = csr.shape
    if expected is None:
        expected = (features,)
    if len(expected) != 1 and int(np.prod(expected)) == features:
        pass   # a sparse matrix holds flattened samples: (N, 784) for (28, 28)
    elif tuple(expected) != (features,):
        raise ValueError("expected %s of shape %s, got a sparse matrix of shape %s: the "
                         "model takes %d columns" % (where, shape_text(expected),
                                                     (n, features), int(np.prod(expected))))
    return csr, tuple(expected)


def check_x(model, x, where="x"):
    """(x as the engine computes on it, per-sample shape), or a ValueError."""
    if not model.layers:
        raise ValueError("the model has no layers: add some before using it")
    if x is None:
        raise ValueError("%s is missing: pass the input samples" % where)
    if is_sparse_input(x):
        return _check_sparse(model, x, where)
    return _check_dense(model, x, where)


def n_samples(x):
    return x.shape[0]


def check_xy(model, x, y, what):
    """(x, targets, per-sample shape) for fit/evaluate/validation."""
    where_x = "validation x" if what == "validation" else "x"
    where_y = "validation y" if what == "validation" else "y"
    x, shape = check_x(model, x, where_x)
    if y is None:
        raise ValueError("%s is missing: %s needs targets" % (where_y, what))
    ylen = np.shape(y)[0] if np.ndim(y) >= 1 else None
    if ylen != n_samples(x):
        raise ValueError("x and y must have the same number of samples%s: x has %d, "
                         "y has %s" % (" (validation_data)" if what == "validation" else "",
                                       n_samples(x), ylen if ylen is not None else "a scalar"))
    target = model.loss.prepare_targets(y, model._output_units(), where_y)
    return x, target, shape


def check_sample_weight(sample_weight, n, where="sample_weight"):
    """float32 (n,) weights >= 0, finite, or a ValueError."""
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("%s must be numbers, one per sample: %s" % (where, exc))
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim != 1 or len(w) != n:
        raise ValueError("%s must have one weight per sample: shape (%d,), got %s"
                         % (where, n, np.shape(sample_weight)))
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("%s must be finite and >= 0" % where)
    return np.ascontiguousarray(w, dtype=_F32)


def class_weight_to_sample(class_weight, target, units, sparse_labels):
    """Keras's class_weight as per-sample weights: w_i = class_weight[class of y_i]."""
    if not isinstance(class_weight, dict):
        raise ValueError("class_weight must be a dict {class index: weight}, got %r"
                         % (class_weight,))
    n_classes = max(units, 2)
    table = np.ones(n_classes, np.float64)
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) \
                or not 0 <= int(k) < n_classes:
            raise ValueError("class_weight key %r is not a class index in [0, %d)"
                             % (k, n_classes))
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError("class_weight[%r] must be a number, got %r" % (k, v))
        if not np.isfinite(v) or v < 0:
            raise ValueError("class_weight[%r] must be finite and >= 0" % (k,))
        table[int(k)] = v
    if sparse_labels:
        classes = np.asarray(target).reshape(-1).astype(np.int64)
    elif target.ndim == 2 and target.shape[1] == 1:
        classes = (target[:, 0] > 0.5).astype(np.int64)    # binary labels
    else:
        classes = np.asarray(target).argmax(axis=1)
    return np.ascontiguousarray(table[classes], dtype=_F32)


# ---- arguments ------------------------------------------------------------------

def whole(name, value, minimum):
    """``value`` as an int >= minimum (a float like 128.0 is accepted), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError("%s must be a whole number >= %d, got %r" % (name, minimum, value))
    value = int(value)
    if value < minimum:
        raise ValueError("%s must be >= %d, got %d" % (name, minimum, value))
    return value


def check_verbose(verbose):
    if verbose is True:
        return 1
    if verbose is False:
        return 0
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError("verbose must be 0 (silent), 1 (progress bar) or 2 (one line "
                         "per epoch), got %r" % (verbose,))
    return int(verbose)


def rows(x, start, stop):
    """Rows start:stop of checked input (an array or compressed rows: a view)."""
    return x[start:stop]


def is_compressed(x):
    from .._sparse import CSRMatrix
    return isinstance(x, CSRMatrix)


def choose_input_form(model, x, training):
    """(x, sparse_kernels): the form the engine computes on, and whether the
    first layer runs the sparse kernels on it.

    Compressed rows are used when the first computing layer takes them and
    the sparse-input mode says so (``fastdense.set_sparse_inputs``): 'never'
    keeps dense arrays dense (a scipy.sparse input is then expanded batch by
    batch, never whole), 'always' compresses, 'auto' compresses when the
    input's density is under the crossover measured for this CPU's SIMD
    level, the layer's width and the thread count (``_sparse.use_sparse``);
    on the NumPy backend 'auto' stays dense.
    """
    from .. import _config
    compressed = is_compressed(x)
    mode = _config.get_sparse_inputs()
    from .workspace import Plan
    first = Plan(model, training=training).first
    if first is None or not first.layer.takes_sparse or mode == "never":
        return x, False
    from .. import _sparse
    if mode == "always":
        return (x if compressed else _sparse.from_dense(x)), True
    level = _config.simd_level() if _config.backend() == "c" else "none"
    units = getattr(first.layer, "units", 1)
    if not _sparse.use_sparse(_sparse.density(x), level, units, _config.get_num_threads()):
        return x, False
    return (x if compressed else _sparse.from_dense(x)), True
