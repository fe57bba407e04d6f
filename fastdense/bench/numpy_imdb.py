"""The book's IMDB network written the way a competent NumPy user writes it.

The NumPy contender of the bench's bag-of-words rows: the same algorithm as
fastdense trains (Chollet, *Deep Learning with Python*, section 3.4)::

    Dense(16, relu, input 10000) -> Dense(16, relu) -> Dense(1, sigmoid),
    binary cross-entropy (gradient (p - y) / N through the sigmoid),
    RMSprop(lr=1e-3, rho=0.9, eps=1e-7, epsilon outside the root,
    accumulators start at zero), batch 512, shuffled every epoch,
    glorot-uniform kernels, zero biases.

It trains on the dense multi-hot float32 array that the book's
``vectorize_sequences`` makes (25,000 x 10,000: 1 GB), because that is what
NumPy code does: there is no sparse ``@`` in NumPy.  Like
``numpy_mnist.py`` it is deliberately not tuned: ``X[idx]`` gathers each batch,
``@`` multiplies, every intermediate is a new array.  Everything is float32.

As a script it trains on the bench's IMDB-shaped data
(``fastdense.bench.data``) and prints seconds per epoch, the held-out
accuracy and the process's peak memory::

    python -m fastdense.bench.numpy_imdb --epochs 4
"""
import argparse
import sys
import time

import numpy as np

from .numpy_mnist import glorot_uniform

F32 = np.float32


class NumpyIMDB:
    """Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid), trained with RMSprop."""

    def __init__(self, n_in=10000, hidden=16, lr=1e-3, rho=0.9, eps=1e-7, seed=0):
        self.rng = np.random.default_rng(seed)
        self.W1 = glorot_uniform(self.rng, n_in, hidden)
        self.b1 = np.zeros(hidden, F32)
        self.W2 = glorot_uniform(self.rng, hidden, hidden)
        self.b2 = np.zeros(hidden, F32)
        self.W3 = glorot_uniform(self.rng, hidden, 1)
        self.b3 = np.zeros(1, F32)
        self.lr, self.rho, self.eps = lr, rho, eps
        self.accums = [np.zeros_like(p) for p in self.params()]

    def params(self):
        return [self.W1, self.b1, self.W2, self.b2, self.W3, self.b3]

    def step(self, xb, yb):
        """One forward/backward/RMSprop step on a batch; returns (loss, correct)."""
        m = xb.shape[0]
        # forward
        h1 = np.maximum(xb @ self.W1 + self.b1, 0)
        h2 = np.maximum(h1 @ self.W2 + self.b2, 0)
        z3 = h2 @ self.W3 + self.b3
        p = 1 / (1 + np.exp(-z3))
        pc = np.clip(p, 1e-7, 1 - 1e-7)
        loss = -(yb * np.log(pc) + (1 - yb) * np.log(1 - pc)).sum() / m
        correct = ((p > 0.5) == (yb > 0.5)).sum()
        # backward
        dz3 = (p - yb) / m
        dW3 = h2.T @ dz3
        db3 = dz3.sum(axis=0)
        dz2 = (dz3 @ self.W3.T) * (h2 > 0)
        dW2 = h1.T @ dz2
        db2 = dz2.sum(axis=0)
        dz1 = (dz2 @ self.W2.T) * (h1 > 0)
        dW1 = xb.T @ dz1
        db1 = dz1.sum(axis=0)
        # RMSprop
        lr, rho, eps = self.lr, self.rho, self.eps
        for param, grad, accum in zip(self.params(), (dW1, db1, dW2, db2, dW3, db3),
                                      self.accums):
            accum[...] = rho * accum + (1 - rho) * grad ** 2
            param -= lr * grad / (np.sqrt(accum) + eps)
        return float(loss), int(correct)

    def train_epoch(self, x, y, batch_size=512):
        """One shuffled pass over (x, y of shape (N, 1)); returns (mean loss, accuracy)."""
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
        """Probabilities of the positive class, float32 (N, 1)."""
        h1 = np.maximum(x @ self.W1 + self.b1, 0)
        h2 = np.maximum(h1 @ self.W2 + self.b2, 0)
        return 1 / (1 + np.exp(-(h2 @ self.W3 + self.b3)))

    def accuracy(self, x, y):
        """Fraction of rows on the right side of 0.5."""
        return float(((self.predict(x) > 0.5) == (y > 0.5)).mean())


def main(argv=None):
    from . import data
    from .machine import peak_rss_bytes
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--rows", type=int, default=None,
                    help="reviews per split (default 25,000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    parts = data.imdb_parts("train", args.rows)
    x, y = data.imdb_dense(*parts[:2]), parts[2]
    tparts = data.imdb_parts("test", args.rows)
    xt, yt = data.imdb_dense(*tparts[:2]), tparts[2]
    print("data: %d + %d reviews x %d words, %.2f%% set, %.1f s"
          % (len(x), len(xt), x.shape[1], 100.0 * len(parts[1]) / x.size,
             time.perf_counter() - t0))
    net = NumpyIMDB(n_in=x.shape[1], seed=args.seed)
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        loss, acc = net.train_epoch(x, y, args.batch_size)
        print("epoch %d/%d: %.3f s  loss %.4f  accuracy %.4f"
              % (epoch + 1, args.epochs, time.perf_counter() - t0, loss, acc))
    print("held-out accuracy: %.4f" % net.accuracy(xt, yt))
    peak = peak_rss_bytes()
    if peak:
        print("peak memory (RSS): %.0f MB" % (peak / 2 ** 20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
