"""The seed network's training written the way a competent NumPy user writes it.

This is the "idiomatic NumPy step" baseline of the benchmarks (issue 4:
fastdense's C epoch must be at least 1.7x faster than this, at the same thread
count).  It is the same algorithm as ``fastdense.models.Sequential`` trains in
the README's notebook:

    Dense(512, relu) -> Dense(10, softmax), categorical cross-entropy computed
    from the logits (gradient (p - y) / N), RMSprop(lr=1e-3, rho=0.9,
    eps=1e-7, epsilon outside the root, accumulators start at zero),
    batch 128, shuffled every epoch, glorot-uniform kernels, zero biases.

It is deliberately *not* tuned: every step gathers its batch with ``X[idx]``,
multiplies with ``@``, and makes new arrays for every intermediate, as code
written from a textbook does.  Everything is float32 (Python scalars do not
promote float32 arrays in NumPy >= 2).

It lives inside the package (``fastdense.bench.numpy_mnist``) so that
``fastdense bench`` runs it from an installed wheel too;
``benchmarks/numpy_mnist.py`` is a thin wrapper kept for the source tree.
As a script it trains on MNIST and prints seconds per epoch and the test
accuracy::

    python -m fastdense.bench.numpy_mnist --epochs 5 --threads 2

(``FASTDENSE_DATA`` or ``--data`` points at a folder holding ``mnist/``.)
"""
import argparse
import os
import sys
import time

import numpy as np

F32 = np.float32


def glorot_uniform(rng, fan_in, fan_out):
    """Keras's glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(F32)


class NumpyMLP:
    """Dense(hidden, relu) -> Dense(classes, softmax), trained with RMSprop."""

    def __init__(self, n_in=784, hidden=512, n_out=10, lr=1e-3, rho=0.9,
                 eps=1e-7, seed=0):
        self.rng = np.random.default_rng(seed)
        self.W1 = glorot_uniform(self.rng, n_in, hidden)
        self.b1 = np.zeros(hidden, F32)
        self.W2 = glorot_uniform(self.rng, hidden, n_out)
        self.b2 = np.zeros(n_out, F32)
        self.lr, self.rho, self.eps = lr, rho, eps
        self.accums = [np.zeros_like(p) for p in self.params()]

    def params(self):
        return [self.W1, self.b1, self.W2, self.b2]

    def set_params(self, W1, b1, W2, b2):
        """Copy weights in (e.g. from a fastdense model, to compare predictions)."""
        for mine, new in zip(self.params(), (W1, b1, W2, b2)):
            mine[...] = new

    def step(self, xb, yb):
        """One forward/backward/RMSprop step on a batch; returns (loss, correct)."""
        m = xb.shape[0]
        # forward
        h = np.maximum(xb @ self.W1 + self.b1, 0)
        logits = h @ self.W2 + self.b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sums = exp.sum(axis=1, keepdims=True)
        p = exp / sums
        loss = -(yb * (shifted - np.log(sums))).sum() / m
        correct = (logits.argmax(axis=1) == yb.argmax(axis=1)).sum()
        # backward
        dz2 = (p - yb) / m
        dW2 = h.T @ dz2
        db2 = dz2.sum(axis=0)
        dh = dz2 @ self.W2.T
        dz1 = dh * (h > 0)
        dW1 = xb.T @ dz1
        db1 = dz1.sum(axis=0)
        # RMSprop
        lr, rho, eps = self.lr, self.rho, self.eps
        for param, grad, accum in zip(self.params(), (dW1, db1, dW2, db2),
                                      self.accums):
            accum[...] = rho * accum + (1 - rho) * grad ** 2
            param -= lr * grad / (np.sqrt(accum) + eps)
        return float(loss), int(correct)

    def train_epoch(self, x, y, batch_size=128):
        """One shuffled pass over (x, y one-hot); returns (mean loss, accuracy)."""
        n = x.shape[0]
        idx = self.rng.permutation(n)
        loss_total, correct = 0.0, 0
        for start in range(0, n, batch_size):
            batch = idx[start:start + batch_size]
            loss, ok = self.step(x[batch], y[batch])
            loss_total += loss * len(batch)
            correct += ok
        return loss_total / n, correct / n

    def predict(self, x):
        """Softmax probabilities, float32 (N, classes)."""
        h = np.maximum(x @ self.W1 + self.b1, 0)
        logits = h @ self.W2 + self.b2
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def accuracy(self, x, y):
        """Fraction of rows whose argmax matches (y one-hot or labels)."""
        labels = y.argmax(axis=1) if y.ndim == 2 else y
        return float((self.predict(x).argmax(axis=1) == labels).mean())


def load_mnist(path=None):
    """MNIST as float32 (N, 784) in [0, 1] and one-hot float32 labels."""
    from ..datasets import mnist
    (x, y), (xt, yt) = mnist.load_data(path)
    x = x.reshape(len(x), -1).astype(F32) / 255
    xt = xt.reshape(len(xt), -1).astype(F32) / 255
    eye = np.eye(10, dtype=F32)
    return (x, eye[y]), (xt, eye[yt])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads (threadpoolctl); default: NumPy's own")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None,
                    help="folder with the MNIST files (default: FASTDENSE_DATA)")
    args = ap.parse_args(argv)
    (x, y), (xt, yt) = load_mnist(args.data and os.path.join(args.data, "mnist"))
    limits = None
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(args.threads, user_api="blas")
    try:
        net = NumpyMLP(seed=args.seed)
        for epoch in range(args.epochs):
            t0 = time.perf_counter()
            loss, acc = net.train_epoch(x, y, args.batch_size)
            dt = time.perf_counter() - t0
            print("epoch %d/%d: %.3f s  loss %.4f  accuracy %.4f"
                  % (epoch + 1, args.epochs, dt, loss, acc))
        print("test accuracy: %.4f" % net.accuracy(xt, yt))
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
