"""The NumPy twins of the C kernels: same names, same arguments, same results.

This module is three things at once (as bottleneck's ``slow`` module is):
the readable truth that the C kernels are tested against, the baseline the
benchmarks measure them against, and the fallback backend when the compiled
extension is missing.

Every function here mirrors one ``fd_*`` function of ``src_c/fastdense.h`` and
one binding of ``fastdense/_ckernels.pyx``, minus the ``fd_`` prefix:

* arrays are float32 (index arrays int64); matrices are 2-D with any strides,
  vectors 1-D;
* outputs are passed in by the caller, filled in place and returned; an output
  may be the very same array as an input;
* ``nthreads`` is accepted (and ignored: NumPy decides its own threads) so that
  both backends share one signature.

Arguments are trusted: checking them is the job of ``fastdense.ops``.
"""
import numpy as np

__all__ = [
    "sgemm", "add_f32", "relu_f32", "relu_backward_f32", "bias_grad_f32",
    "softmax_f32", "softmax_xent_f32", "rmsprop_update_f32",
    "sgd_update_f32", "adam_update_f32",
]


def sgemm(a, b, c, alpha=1.0, beta=0.0, bias=None, relu=False,
          a_rows=None, a_cols=None, nthreads=1):
    """c = alpha * A @ b + beta * c (+ bias per column) (then max(., 0)).

    A is ``a[a_rows][:, a_cols]`` (either index may be None).  When beta is 0
    the old contents of c are not read.  Returns c.
    """
    if a_rows is not None:
        a = a[a_rows]
    if a_cols is not None:
        a = a[:, a_cols]
    if beta == 0.0:
        np.matmul(a, b, out=c)
        if alpha != 1.0:
            c *= np.float32(alpha)
    else:
        prod = np.matmul(a, b)
        if alpha != 1.0:
            prod *= np.float32(alpha)
        c *= np.float32(beta)
        c += prod
    if bias is not None:
        c += bias
    if relu:
        np.maximum(c, 0, out=c)
    return c


def add_f32(x, y, out, nthreads=1):
    """out = x + y (same shape; broadcasting comes as stride-0 views)."""
    return np.add(x, y, out=out)


def relu_f32(x, out, nthreads=1):
    """out = max(x, 0); NaN stays NaN, as np.maximum."""
    return np.maximum(x, 0, out=out)


def relu_backward_f32(grad, y, out, bias_grad=None, nthreads=1):
    """out = grad where y > 0 else 0 (NaN in grad where y <= 0 gives 0, as a
    select does); bias_grad (optional) = column sums of out."""
    out[...] = np.where(y > 0, grad, np.float32(0))
    if bias_grad is not None:
        np.sum(out, axis=0, out=bias_grad)
    return out


def bias_grad_f32(grad, out, nthreads=1):
    """out[j] = sum_i grad[i, j]."""
    return np.sum(grad, axis=0, out=out)


def softmax_f32(x, out, nthreads=1):
    """Row softmax, max-subtracted so that large inputs never overflow."""
    np.subtract(x, x.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def softmax_xent_f32(logits, target, probs=None, grad=None, scale=1.0,
                     nthreads=1):
    """Softmax + categorical cross-entropy from logits.

    ``target`` is a float32 (m, n) distribution (one-hot) or an int64 (m,)
    vector of class indices.  Fills ``probs`` with the softmax and ``grad``
    with ``(softmax - y) * scale`` when given.  Returns
    ``(loss_sum, n_correct)``: the summed cross-entropy over rows (a Python
    float) and how many rows have argmax(logits) == the target class.
    """
    m, n = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_sum
    p = np.exp(log_p)
    if target.ndim == 1:
        if m and (target.min() < 0 or target.max() >= n):
            raise ValueError("labels must be in [0, %d)" % n)
        rows = np.arange(m)
        loss_sum = -log_p[rows, target].astype(np.float64).sum()
        true_class = target
        y = np.zeros((m, n), np.float32)
        y[rows, target] = 1
    else:
        y = target
        # 0 * log(0) counts as 0, as it does in the C kernel.
        terms = np.where(y != 0, y * log_p, np.float32(0))
        loss_sum = -terms.astype(np.float64).sum()
        true_class = y.argmax(axis=1) if n else np.zeros(m, np.int64)
    n_correct = int((logits.argmax(axis=1) == true_class).sum()) if n else 0
    if probs is not None:
        probs[...] = p
    if grad is not None:
        np.subtract(p, y, out=grad)
        grad *= np.float32(scale)
    return float(loss_sum), n_correct


def rmsprop_update_f32(param, grad, accum, lr, rho, eps, nthreads=1):
    """accum = rho*accum + (1-rho)*grad**2; param -= lr*grad/(sqrt(accum)+eps)."""
    lr, rho, eps = np.float32(lr), np.float32(rho), np.float32(eps)
    accum *= rho
    accum += (np.float32(1) - rho) * np.square(grad)
    param -= lr * grad / (np.sqrt(accum) + eps)
    return param


def sgd_update_f32(param, grad, velocity, lr, momentum, nesterov, nthreads=1):
    """Keras 2.3.1 SGD: v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v."""
    lr, momentum = np.float32(lr), np.float32(momentum)
    if velocity is None:
        param -= lr * grad
        return param
    velocity *= momentum
    velocity -= lr * grad
    if nesterov:
        param += momentum * velocity - lr * grad
    else:
        param += velocity
    return param


def adam_update_f32(param, grad, m, v, lr_t, beta1, beta2, eps, nthreads=1):
    """Keras 2.3.1 Adam step with the bias-corrected rate lr_t."""
    lr_t, beta1, beta2, eps = (np.float32(t) for t in (lr_t, beta1, beta2, eps))
    m *= beta1
    m += (np.float32(1) - beta1) * grad
    v *= beta2
    v += (np.float32(1) - beta2) * np.square(grad)
    param -= lr_t * m / (np.sqrt(v) + eps)
    return param


# ---- optimizers beyond RMSprop/SGD/Adam, gradient clipping (optim family) --
# Same operations in the same order as src_c/optim_rows.h, so the results
# are the C kernels' bits.  gscale / clip: the gradient is read as
# min(max(grad*gscale, -clip), clip) (1.0 and inf: as it is), never written.

__all__ += [
    "sumsq_f32", "rmsprop_update_clip_f32", "sgd_update_clip_f32",
    "adam_update_clip_f32", "adagrad_update_f32", "adadelta_update_f32",
    "adamax_update_f32", "nadam_update_f32", "adamw_update_f32",
]


def _transformed_grad(grad, gscale, clip):
    """The gradient the kernels update with: clipnorm's scale, then clipvalue's
    bound, as selects (NaN stays NaN, -0.0 stays -0.0)."""
    gscale, clip = np.float32(gscale), np.float32(clip)
    if not clip >= 0:
        raise ValueError("clip must be >= 0 (inf for no clipping), got %r" % clip)
    if gscale == 1 and clip == np.inf:
        return grad
    g = grad * gscale
    return np.where(g > clip, clip, np.where(g < -clip, -clip, g))


def sumsq_f32(x, nthreads=1):
    """The sum of x**2 in double (a Python float).  The squares are exact in
    double; NumPy's summation order is not the kernel's, so the two sums may
    differ in the last bits of a double."""
    return float(np.square(x, dtype=np.float64).sum())


def rmsprop_update_clip_f32(param, grad, accum, lr, rho, eps, gscale=1.0,
                            clip=np.inf, nthreads=1):
    """rmsprop_update_f32 on the transformed gradient."""
    return rmsprop_update_f32(param, _transformed_grad(grad, gscale, clip), accum,
                              lr, rho, eps)


def sgd_update_clip_f32(param, grad, velocity, lr, momentum, nesterov, gscale=1.0,
                        clip=np.inf, nthreads=1):
    """sgd_update_f32 on the transformed gradient."""
    return sgd_update_f32(param, _transformed_grad(grad, gscale, clip), velocity, lr,
                          momentum, nesterov)


def adam_update_clip_f32(param, grad, m, v, lr_t, beta1, beta2, eps, gscale=1.0,
                         clip=np.inf, nthreads=1):
    """adam_update_f32 on the transformed gradient."""
    return adam_update_f32(param, _transformed_grad(grad, gscale, clip), m, v, lr_t,
                           beta1, beta2, eps)


def adagrad_update_f32(param, grad, accum, lr, eps, gscale=1.0, clip=np.inf,
                       nthreads=1):
    """Keras 2.3.1 Adagrad: accum += g**2; param -= lr*g/(sqrt(accum)+eps)."""
    g = _transformed_grad(grad, gscale, clip)
    lr, eps = np.float32(lr), np.float32(eps)
    accum += np.square(g)
    param -= lr * g / (np.sqrt(accum) + eps)
    return param


def adadelta_update_f32(param, grad, accum, delta, lr, rho, eps, gscale=1.0,
                        clip=np.inf, nthreads=1):
    """Keras 2.3.1 Adadelta: accum = rho*accum + (1-rho)*g**2;
    u = g*sqrt(delta+eps)/sqrt(accum+eps); param -= lr*u;
    delta = rho*delta + (1-rho)*u**2."""
    g = _transformed_grad(grad, gscale, clip)
    lr, rho, eps = np.float32(lr), np.float32(rho), np.float32(eps)
    one_minus_rho = np.float32(1) - rho
    accum *= rho
    accum += one_minus_rho * np.square(g)
    u = g * np.sqrt(delta + eps) / np.sqrt(accum + eps)
    param -= lr * u
    delta *= rho
    delta += one_minus_rho * np.square(u)
    return param


def adamax_update_f32(param, grad, m, u, lr_t, beta1, beta2, eps, gscale=1.0,
                      clip=np.inf, nthreads=1):
    """Keras 2.3.1 Adamax with lr_t = lr/(1-beta1**t): m = b1*m + (1-b1)*g;
    u = max(b2*u, |g|); param -= lr_t*m/(u+eps)."""
    g = _transformed_grad(grad, gscale, clip)
    lr_t, beta1, beta2, eps = (np.float32(t) for t in (lr_t, beta1, beta2, eps))
    m *= beta1
    m += (np.float32(1) - beta1) * g
    u[...] = np.maximum(beta2 * u, np.abs(g))
    param -= lr_t * m / (u + eps)
    return param


def nadam_update_f32(param, grad, m, v, lr, beta1, beta2, kg, km, vs, eps,
                     gscale=1.0, clip=np.inf, nthreads=1):
    """Keras 2.3.1 Nadam with the step's schedule in kg, km, vs:
    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g**2;
    param -= lr*(kg*g + km*m)/(sqrt(v*vs)+eps)."""
    g = _transformed_grad(grad, gscale, clip)
    lr, beta1, beta2, kg, km, vs, eps = (np.float32(t) for t in
                                         (lr, beta1, beta2, kg, km, vs, eps))
    m *= beta1
    m += (np.float32(1) - beta1) * g
    v *= beta2
    v += (np.float32(1) - beta2) * np.square(g)
    mbar = kg * g + km * m
    param -= lr * mbar / (np.sqrt(v * vs) + eps)
    return param


def adamw_update_f32(param, grad, m, v, lr_t, beta1, beta2, eps, decay, gscale=1.0,
                     clip=np.inf, nthreads=1):
    """AdamW: param -= param*decay (decay = lr*weight_decay), then the Adam
    step with the bias-corrected rate lr_t."""
    g = _transformed_grad(grad, gscale, clip)
    decay = np.float32(decay)
    param -= param * decay
    return adam_update_f32(param, g, m, v, lr_t, beta1, beta2, eps)
# ---- dropout and weight regularizers (src_c/philox.h, dropout.c, regularize.c)

__all__ += ["philox4x32_10", "dropout_mask", "dropout_scale", "dropout_forward_f32",
            "dropout_backward_f32", "relu_dropout_backward_f32",
            "l1l2_penalty_grad_f32"]

import math  # noqa: E402  (this family's block is kept in one piece)
import operator  # noqa: E402

_PHILOX_M0, _PHILOX_M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_PHILOX_W0, _PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
_U32 = 0xFFFFFFFF
_F32_MAX = float(np.finfo(np.float32).max)


def _word(v, bits, name, what):
    """v as a Python int in [0, 2**bits) (the binding's checks, word for word)."""
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError("%s: %s must be an integer, got %r" % (what, name, v)) from None
    if not 0 <= v < (1 << bits):
        raise ValueError("%s: %s must be in [0, 2**%d), got %d" % (what, name, bits, v))
    return v


def _philox_rounds(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10, one block per position: c0..c3 are uint64 arrays that
    hold 32-bit words (updated in place and returned), k0, k1 ints.  uint64
    throughout: a 32x32-bit product is exact, and no word is converted."""
    low, s32 = np.uint64(_U32), np.uint64(32)
    p0, p1 = np.empty_like(c0), np.empty_like(c0)
    for r in range(10):
        if r:
            k0 = (k0 + _PHILOX_W0) & _U32
            k1 = (k1 + _PHILOX_W1) & _U32
        np.multiply(c0, _PHILOX_M0, out=p0)          # (hi0, lo0)
        np.multiply(c2, _PHILOX_M1, out=p1)          # (hi1, lo1)
        np.right_shift(p1, s32, out=c0)              # c0 = hi1 ^ c1 ^ k0
        c0 ^= c1
        c0 ^= np.uint64(k0)
        np.bitwise_and(p1, low, out=c1)              # c1 = lo1
        np.right_shift(p0, s32, out=c2)              # c2 = hi0 ^ c3 ^ k1
        c2 ^= c3
        c2 ^= np.uint64(k1)
        np.bitwise_and(p0, low, out=c3)              # c3 = lo0
    return c0, c1, c2, c3


def philox4x32_10(counter, key):
    """The 4 words (ints) of Philox4x32-10(counter: 4 ints, key: 2 ints)."""
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("philox4x32_10: counter has 4 words and key 2, got %d and %d"
                         % (len(counter), len(key)))
    c = [np.array([_word(v, 32, "a counter word", "philox4x32_10")], np.uint64)
         for v in counter]
    k = [_word(v, 32, "a key word", "philox4x32_10") for v in key]
    return tuple(int(w[0]) for w in _philox_rounds(*c, *k))


def _check_rate(rate, what):
    if not 0.0 <= rate < 1.0:
        raise ValueError("%s: the dropout rate must be in [0, 1), got %r" % (what, rate))


def dropout_scale(rate):
    """The inverted-dropout scale, in float32 as the C kernels (and TF) form
    it: ``1 / (1 - float32(rate))``."""
    with np.errstate(divide="ignore"):   # float32(rate) == 1: inf, as in C
        return np.float32(1) / (np.float32(1) - np.float32(rate))


def dropout_mask(shape, rate, seed, step, first=0):
    """The keep mask (bool, ``shape`` = (m, n)) of the dropout kernels:
    element (i, j) is kept iff word (e % 4) of Philox4x32-10 with counter
    (e // 4 as 64 bits, step as 64 bits) and key (seed as 64 bits), where
    e = first + i*n + j, is >= ceil(rate * 2**32) (src_c/philox.h)."""
    _check_rate(rate, "dropout_mask")
    seed = _word(seed, 64, "seed", "dropout_mask")
    step = _word(step, 64, "step", "dropout_mask")
    first = _word(first, 64, "first", "dropout_mask")
    m, n = shape
    count = m * n
    threshold = math.ceil(rate * 4294967296.0)   # exact: a power-of-two scaling
    if threshold == 0:
        return np.ones(shape, bool)
    lead = first & 3
    b0 = first >> 2
    blocks = np.uint64(b0) + np.arange((lead + count + 3) // 4, dtype=np.uint64)
    words = _philox_rounds(blocks & np.uint64(_U32), blocks >> np.uint64(32),
                           np.full(blocks.shape, step & _U32, np.uint64),
                           np.full(blocks.shape, step >> 32, np.uint64),
                           seed & _U32, seed >> 32)
    u = np.stack(words, axis=1).reshape(-1)[lead:lead + count]   # counter order
    return (u >= np.uint64(threshold)).reshape(shape)   # threshold <= 2**32


def dropout_forward_f32(x, out, rate, seed, step, nthreads=1, first=0):
    """out = x * dropout_scale(rate) where dropout_mask keeps, else 0."""
    _check_rate(rate, "dropout_forward_f32")
    keep = dropout_mask(x.shape, rate, seed, step, first)
    out[...] = np.where(keep, x * dropout_scale(rate), np.float32(0))
    return out


def dropout_backward_f32(grad, out, rate, seed, step, nthreads=1, first=0):
    """out = grad * dropout_scale(rate) where the forward kept, else 0."""
    _check_rate(rate, "dropout_backward_f32")
    keep = dropout_mask(grad.shape, rate, seed, step, first)
    out[...] = np.where(keep, grad * dropout_scale(rate), np.float32(0))
    return out


def relu_dropout_backward_f32(grad, y, out, rate, bias_grad=None, nthreads=1):
    """Dropout after relu, backward: out = grad * scale where the dropout
    output y > 0, else 0; bias_grad (optional) = column sums of out."""
    _check_rate(rate, "relu_dropout_backward_f32")
    out[...] = np.where(y > 0, grad * dropout_scale(rate), np.float32(0))
    if bias_grad is not None:
        np.sum(out, axis=0, out=bias_grad)
    return out


def l1l2_penalty_grad_f32(w, grad, l1, l2, nthreads=1):
    """Returns l1*sum|w| + l2*sum(w**2) (float64 sums; only the terms with a
    nonzero factor); grad (None: penalty only) += float32(l1)*sign(w) +
    float32(2*l2)*w, the same terms, in float32 as the C kernel."""
    if not 0.0 <= l1 <= _F32_MAX:
        raise ValueError("l1l2_penalty_grad_f32: l1 must be finite and >= 0 "
                         "(float32), got %r" % l1)
    if not 0.0 <= l2 <= _F32_MAX / 2:
        raise ValueError("l1l2_penalty_grad_f32: l2 must be finite and >= 0 "
                         "(2*l2 a float32), got %r" % l2)
    has1, has2 = l1 != 0, l2 != 0
    if w.size == 0 or not (has1 or has2):
        return 0.0
    if grad is not None:
        c1, c2 = np.float32(l1), np.float32(2.0 * l2)
        if has1 and has2:
            grad += c1 * np.sign(w) + c2 * w
        elif has1:
            grad += c1 * np.sign(w)
        else:
            grad += c2 * w
    w64 = w.astype(np.float64)
    penalty = 0.0
    if has1:
        penalty += float(l1) * float(np.abs(w64).sum())
    if has2:
        penalty += float(l2) * float(np.square(w64).sum())
    return penalty
