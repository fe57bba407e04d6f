"""The command line: ``fastdense train`` and ``fastdense bench``.

``fastdense train`` trains the MNIST notebook's network (Dense 512 relu,
Dense 10 softmax, RMSprop, categorical cross-entropy) and prints the Keras
progress, the test accuracy and the seconds per epoch.  ``fastdense bench``
hands its arguments to ``fastdense.bench.main`` (the package fastdense/bench/:
``fastdense.bench.cli.main``).
"""
import argparse
import os
import sys
import time

__all__ = ["main"]


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1, got %d" % value)
    return value


def _nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0, got %d" % value)
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastdense",
        description="Dense neural networks on C/OpenMP kernels, the Keras way.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = sub.add_parser(
        "train", help="train the MNIST notebook's network and report test accuracy",
        description="Train Dense(512, relu) -> Dense(10, softmax) with RMSprop on "
                    "MNIST (as the Keras notebook does) and print the progress, the "
                    "test accuracy and the seconds per epoch.")
    train.add_argument("--epochs", type=_nonnegative_int, default=5,
                       help="passes over the training set (default 5)")
    train.add_argument("--batch-size", type=_positive_int, default=128,
                       help="samples per step (default 128)")
    train.add_argument("--backend", choices=("c", "numpy"), default=None,
                       help="kernels to use (default: C when built, else NumPy)")
    train.add_argument("--threads", type=_positive_int, default=None,
                       help="threads for the C kernels (default: FASTDENSE_NUM_THREADS, "
                            "OMP_NUM_THREADS or the usable cores)")
    train.add_argument("--data", default=None, metavar="PATH",
                       help="a folder holding mnist/ (like FASTDENSE_DATA), or a folder "
                            "with the four MNIST-format IDX files, or a Keras .npz")
    train.add_argument("--seed", type=_nonnegative_int, default=None,
                       help="random seed for a repeatable run")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0 silent, 1 progress bar, 2 one line per epoch (default 1)")
    bench = sub.add_parser("bench", help="benchmark the kernels and a training epoch, "
                                         "C against NumPy", add_help=False)
    bench.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _load(data):
    from .datasets import mnist
    if data is None:
        return mnist.load_data()
    if os.path.isdir(os.path.join(data, "mnist")):
        return mnist.load_data(path=os.path.join(data, "mnist"))
    return mnist.load_data(path=data)


class _DataError(Exception):
    pass


def _train(args):
    import numpy as np
    from . import _config, callbacks, layers, models, utils
    if args.backend is not None:
        _config.set_backend(args.backend)
    if args.threads is not None:
        _config.set_num_threads(args.threads)
    if args.seed is not None:
        utils.set_random_seed(args.seed)
    try:
        (x_train, y_train), (x_test, y_test) = _load(args.data)
    except Exception as exc:  # missing, corrupt or undownloadable data: say why, exit 1
        raise _DataError("cannot load the training data: %s" % exc) from exc
    features = int(np.prod(x_train.shape[1:]))
    x_train = x_train.reshape((len(x_train), features)).astype("float32") / 255
    x_test = x_test.reshape((len(x_test), features)).astype("float32") / 255
    classes = int(max(y_train.max(), y_test.max())) + 1
    y_train = utils.to_categorical(y_train, classes)
    y_test = utils.to_categorical(y_test, classes)
    print("fastdense: backend %s, %d thread(s), %d training and %d test images"
          % (_config.backend(), _config.get_num_threads(), len(x_train), len(x_test)))
    sys.stdout.flush()

    network = models.Sequential()
    network.add(layers.Dense(512, activation="relu", input_shape=(features,)))
    network.add(layers.Dense(classes, activation="softmax"))
    network.compile(optimizer="rmsprop", loss="categorical_crossentropy",
                    metrics=["accuracy"])

    class EpochTimer(callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._t)

    timer = EpochTimer()
    network.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                verbose=args.verbose, callbacks=[timer])
    test_loss, test_acc = network.evaluate(x_test, y_test, batch_size=args.batch_size,
                                           verbose=0)
    print("test_loss: %.4f" % test_loss)
    print("test_acc: %.4f" % test_acc)
    if timer.seconds:
        print("seconds per epoch: %.2f (%s)" % (
            sum(timer.seconds) / len(timer.seconds),
            ", ".join("%.2f" % s for s in timer.seconds)))
    return 0


def _bench(argv):
    try:
        from . import bench
    except ModuleNotFoundError as exc:
        if exc.name not in ("fastdense.bench",):
            raise
        print("fastdense bench: the benchmark package (fastdense.bench) is not "
              "available in this installation", file=sys.stderr)
        return 2
    return bench.main(argv)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _train(args)
    except (_DataError, OSError, ValueError, RuntimeError) as exc:
        print("fastdense train: error: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nfastdense train: interrupted", file=sys.stderr)
        return 130
