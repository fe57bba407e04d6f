"""The Keras MNIST notebook, data-parallel: the same lines plus distributed.init().

    FASTDENSE_DATA=../shared/data mpiexec -n 2 python examples/mnist_distributed.py
    FASTDENSE_DATA=../shared/data python examples/mnist_distributed.py   # one process

Every rank loads the same arrays and runs the same lines; each global batch of
128 is split across the ranks and their gradients are summed with one
allreduce per step, so the result is the one-process fit to float rounding and
every rank holds the same weights, bit for bit.  Rank 0 prints.

Options (not in the notebook): --epochs N (5), --seed S (a fixed seed: compare a
one-process run with a multi-rank run), --weights DIR (every rank writes its
weights to DIR/rank<r>.npz, to check the ranks agree and compare runs).
"""
import argparse
import os
import time
import zlib

import numpy as np

import fastdense.distributed
fastdense.distributed.init()                      # the one line data parallelism needs

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--seed", type=int, default=None)
parser.add_argument("--weights", default=None)
args = parser.parse_args()
if args.seed is not None:
    from fastdense import utils
    utils.set_random_seed(args.seed)

# ---- the notebook -------------------------------------------------------------------
from fastdense.datasets import mnist              # was: from keras.datasets import mnist
(train_images, train_labels), (test_images, test_labels) = mnist.load_data()
from fastdense import models, layers               # was: from keras import models, layers
network = models.Sequential()
network.add(layers.Dense(512, activation='relu', input_shape=(28 * 28,)))
network.add(layers.Dense(10, activation='softmax'))
network.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
train_images = train_images.reshape((60000, 28 * 28)).astype('float32') / 255
test_images = test_images.reshape((10000, 28 * 28)).astype('float32') / 255
from fastdense.utils import to_categorical         # was: from keras.utils import to_categorical
train_labels = to_categorical(train_labels)
test_labels = to_categorical(test_labels)
start = time.perf_counter()
network.fit(train_images, train_labels, epochs=args.epochs, batch_size=128)
seconds = time.perf_counter() - start
test_loss, test_acc = network.evaluate(test_images, test_labels)
# ---- end of the notebook ------------------------------------------------------------

rank, size = fastdense.distributed.rank(), fastdense.distributed.size()
crc = 0
for w in network.get_weights():
    crc = zlib.crc32(np.ascontiguousarray(w).tobytes(), crc)
if fastdense.distributed.is_main():
    print('test_acc:', test_acc)                   # Keras: about 0.978
    print('ranks: %d, threads per rank: %d, fit: %.1f s (%.2f s per epoch)'
          % (size, fastdense.get_num_threads(), seconds, seconds / max(args.epochs, 1)))
print('rank %d of %d: weights crc32 %08x' % (rank, size, crc), flush=True)
if args.weights:
    os.makedirs(args.weights, exist_ok=True)
    np.savez(os.path.join(args.weights, 'rank%d.npz' % rank), *network.get_weights())
