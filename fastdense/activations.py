"""Activation functions as small objects: forward and backward, in place.

Each activation maps a pre-activation ``z`` to ``y`` (``forward(K, z, out)``;
``out`` may be ``z`` itself) and maps the gradient with respect to ``y`` to
the gradient with respect to ``z`` (``backward(K, grad, y, out, scratch)``),
using only the output ``y`` -- so the layer never has to keep ``z``.

ReLU and softmax run on the kernels ``K`` (C or NumPy); sigmoid and tanh use
NumPy ufuncs with ``out=`` (there is no dedicated kernel; they are not on the
hot path of the seed network).  The Dense layer fuses ReLU into the GEMM
epilogue and the model fuses softmax into the cross-entropy, so the objects
here are mostly the general path and the readable definition.
"""
import numpy as np

__all__ = ["Activation", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax",
           "get", "serialize"]


class Activation:
    name = None
    needs_scratch = False   # backward wants a buffer the size of y

    def forward(self, K, z, out, nthreads=1):
        raise NotImplementedError

    def backward(self, K, grad, y, out, scratch=None, nthreads=1):
        raise NotImplementedError

    def __call__(self, z):
        """Plain NumPy evaluation (float32 in, new array out)."""
        z = np.asarray(z, dtype=np.float32)
        z2 = np.ascontiguousarray(z.reshape(-1, z.shape[-1]) if z.ndim else z.reshape(1, 1))
        out = np.empty_like(z2)
        from . import reference
        self.forward(reference, z2, out)
        return out.reshape(z.shape)

    def __repr__(self):
        return "activations.get(%r)" % self.name


class Linear(Activation):
    name = "linear"

    def forward(self, K, z, out, nthreads=1):
        if out is not z:
            out[...] = z
        return out

    def backward(self, K, grad, y, out, scratch=None, nthreads=1):
        if out is not grad:
            out[...] = grad
        return out


class ReLU(Activation):
    name = "relu"

    def forward(self, K, z, out, nthreads=1):
        return K.relu_f32(z, out, nthreads=nthreads)

    def backward(self, K, grad, y, out, scratch=None, nthreads=1, bias_grad=None):
        return K.relu_backward_f32(grad, y, out, bias_grad=bias_grad, nthreads=nthreads)


class Sigmoid(Activation):
    name = "sigmoid"
    needs_scratch = True

    def forward(self, K, z, out, nthreads=1):
        # 1 / (1 + exp(-z)), written so that large |z| neither overflows nor warns
        with np.errstate(over="ignore", under="ignore"):
            np.negative(z, out=out)
            np.exp(out, out=out)
            out += np.float32(1)
            np.reciprocal(out, out=out)
        return out

    def backward(self, K, grad, y, out, scratch=None, nthreads=1):
        if scratch is None:
            scratch = np.empty_like(y)
        np.subtract(np.float32(1), y, out=scratch)    # 1 - y
        scratch *= y                                   # y (1 - y)
        np.multiply(grad, scratch, out=out)
        return out


class Tanh(Activation):
    name = "tanh"
    needs_scratch = True

    def forward(self, K, z, out, nthreads=1):
        return np.tanh(z, out=out)

    def backward(self, K, grad, y, out, scratch=None, nthreads=1):
        if scratch is None:
            scratch = np.empty_like(y)
        np.multiply(y, y, out=scratch)
        np.subtract(np.float32(1), scratch, out=scratch)   # 1 - y^2
        np.multiply(grad, scratch, out=out)
        return out


class Softmax(Activation):
    name = "softmax"
    needs_scratch = True

    def forward(self, K, z, out, nthreads=1):
        return K.softmax_f32(z, out, nthreads=nthreads)

    def backward(self, K, grad, y, out, scratch=None, nthreads=1):
        # dz_i = y_i (g_i - sum_j g_j y_j)
        if scratch is None:
            scratch = np.empty_like(y)
        np.multiply(grad, y, out=scratch)
        dot = scratch.sum(axis=1, keepdims=True)
        np.subtract(grad, dot, out=out)
        out *= y
        return out


_REGISTRY = {
    "linear": Linear, "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh,
    "softmax": Softmax,
}


def get(identifier):
    """An Activation from a name ('relu', ...), None (linear) or an instance."""
    if identifier is None:
        return Linear()
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier.lower())
        if cls is not None:
            return cls()
    raise ValueError("unknown activation %r: use one of %s (or None for linear)"
                     % (identifier, ", ".join(repr(k) for k in sorted(_REGISTRY))))


def serialize(activation):
    return activation.name
