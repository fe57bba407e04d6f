"""The engine around any layer: Input, Flatten, Activation, trainable, shared
layers, save/load of every compiled model, weights files, configs and JSON.

Each behaviour runs on both backends (``any_backend``) where it computes.
"""
import json

import numpy as np
import pytest

import fastdense
from fastdense import layers, models, optimizers, utils
from fastdense.engine import saving

from _model_helpers import assert_same_snapshot, blobs, snapshot


def _images(n=120, side=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.normal(0, 1, (n, side, side)).astype(np.float32)
    x[np.arange(n), labels, 0] += 3.0          # a learnable signal
    return x, np.eye(classes, dtype=np.float32)[labels]


def _blobs_onehot(n=64):
    x, labels = blobs(n=n, features=8, classes=3)
    return x, labels, np.eye(3, dtype=np.float32)[labels]


def _mlp(hidden=8, seed=0, compile_args=None):
    """The two-layer classifier most tests here use (8 features, 3 classes)."""
    utils.set_random_seed(seed)
    net = models.Sequential([layers.Dense(hidden, activation="relu", input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])
    if compile_args is not None:
        net.compile(*compile_args)
    return net


# ---- Input, Flatten, Activation ---------------------------------------------------

def test_the_issue_model_fits_image_shaped_arrays(any_backend):
    utils.set_random_seed(0)
    net = models.Sequential([layers.Input(shape=(28, 28)), layers.Flatten(),
                             layers.Dense(32), layers.Activation("relu"),
                             layers.Dense(10, activation="softmax")])
    assert net.input_shape == (None, 28, 28)
    assert net.output_shape == (None, 10)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 300)
    x = rng.random((300, 28, 28), dtype=np.float32)
    x[np.arange(300), labels, 3] = 4.0
    y = np.eye(10, dtype=np.float32)[labels]
    net.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    hist = net.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert net.evaluate(x, y, verbose=0)[1] > 0.5
    assert net.predict(x[:5]).shape == (5, 10)


def test_flatten_then_dense_is_dense_on_reshaped_input(any_backend):
    x, y = _images()
    utils.set_random_seed(4)
    a = models.Sequential([layers.Flatten(input_shape=(6, 6)),
                           layers.Dense(3, activation="softmax")])
    utils.set_random_seed(4)
    b = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(36,))])
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    np.testing.assert_array_equal(a.predict(x), b.predict(x.reshape(len(x), 36)))


def test_activation_layer_equals_the_fused_dense_activation(any_backend):
    """Dense(10) + Activation('softmax') trains exactly like Dense(10, 'softmax')."""
    x, labels = blobs(n=200, features=8, classes=3)
    y = np.eye(3, dtype=np.float32)[labels]

    def make(split):
        utils.set_random_seed(2)
        tail = ([layers.Dense(3), layers.Activation("softmax")] if split
                else [layers.Dense(3, activation="softmax")])
        head = ([layers.Dense(16), layers.Activation("tanh")] if split
                else [layers.Dense(16, activation="tanh")])
        net = models.Sequential([layers.Input(shape=(8,))] + head + tail)
        net.compile(optimizers.RMSprop(0.01), "categorical_crossentropy", ["accuracy"])
        return net

    a, b = make(True), make(False)
    for w1, w2 in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    utils.set_random_seed(7)            # the same shuffles for both
    ha = a.fit(x, y, epochs=3, batch_size=32, verbose=0)
    utils.set_random_seed(7)
    hb = b.fit(x, y, epochs=3, batch_size=32, verbose=0)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-5)
    for w1, w2 in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-4, atol=1e-6)


def test_input_layer_rules():
    with pytest.raises(ValueError, match="shape"):
        layers.Input()
    net = models.Sequential([layers.Dense(3, input_shape=(4,))])
    with pytest.raises(ValueError, match="first layer"):
        net.add(layers.Input(shape=(4,)))
    with pytest.raises(ValueError, match="Flatten"):
        layers.Dense(3, input_shape=(28, 28))
    net = models.Sequential([layers.Input(shape=(28, 28))])
    with pytest.raises(ValueError, match="Flatten"):
        net.add(layers.Dense(3))
    assert len(net.layers) == 1        # the failed add changed nothing


def test_wrong_image_shape_message():
    net = models.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(10)])
    net.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"\(N, 28, 28\), got \(5, 784\): reshape"):
        net.predict(np.zeros((5, 784), np.float32))


def test_deferred_build_takes_the_shape_from_the_data(any_backend):
    x, y = _images(side=4)
    net = models.Sequential([layers.Flatten(), layers.Dense(3, activation="softmax")])
    assert not net.built
    net.compile("sgd", "categorical_crossentropy")
    net.fit(x, y, epochs=1, verbose=0)
    assert net.built and net.input_shape == (None, 4, 4)
    assert net.count_params() == 16 * 3 + 3


# ---- trainable ------------------------------------------------------------------------

@pytest.mark.parametrize("opt", ["rmsprop", "adam", "sgd"])
def test_a_frozen_layer_stays_bit_identical(any_backend, opt):
    x, labels = blobs(n=160, features=8, classes=3)
    y = np.eye(3, dtype=np.float32)[labels]
    utils.set_random_seed(5)
    net = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])
    net.layers[0].trainable = False
    net.compile(opt, "categorical_crossentropy", ["accuracy"])
    frozen = [w.copy() for w in net.layers[0].get_weights()]
    free = [w.copy() for w in net.layers[1].get_weights()]
    net.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(frozen, net.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(free, net.layers[1].get_weights()))
    # optimizer state only for the 51 trainable parameters
    state = net.optimizer.get_state()[1]
    assert all(s.size == 16 * 3 + 3 for s in state)


def test_summary_counts_non_trainable(capsys):
    net = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                             layers.Dense(10, activation="softmax")])
    net.layers[0].trainable = False
    net.summary()
    out = capsys.readouterr().out
    assert "Total params: 407,050" in out
    assert "Trainable params: 5,130" in out
    assert "Non-trainable params: 401,920" in out
    net.trainable = False
    net.summary()
    out = capsys.readouterr().out
    assert "Trainable params: 0" in out and "Non-trainable params: 407,050" in out
    assert net.trainable_weights == [] and len(net.non_trainable_weights) == 4


def test_model_trainable_false_freezes_everything(any_backend):
    x, labels = blobs(n=64, features=8, classes=3)
    y = np.eye(3, dtype=np.float32)[labels]
    utils.set_random_seed(1)
    net = models.Sequential([layers.Dense(4, input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])
    net.trainable = False
    net.compile("sgd", "categorical_crossentropy")
    before = net.get_weights()
    net.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_trainable_changes_take_effect_at_the_next_compile(any_backend):
    x, labels = blobs(n=64, features=8, classes=3)
    y = np.eye(3, dtype=np.float32)[labels]
    utils.set_random_seed(1)
    net = models.Sequential([layers.Dense(4, input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])
    net.compile("sgd", "categorical_crossentropy")
    net.layers[0].trainable = False          # after compile: not yet in effect (Keras)
    before = net.layers[0].get_weights()
    net.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(before[0], net.layers[0].get_weights()[0])
    net.compile("sgd", "categorical_crossentropy")   # now it is
    before = net.layers[0].get_weights()
    net.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(before[0], net.layers[0].get_weights()[0])


def test_frozen_layer_gradients_flow_to_earlier_layers(any_backend):
    """A frozen middle layer still passes dL/dx back to the trainable first layer."""
    x, labels = blobs(n=64, features=6, classes=3)
    y = np.eye(3, dtype=np.float32)[labels]
    utils.set_random_seed(3)
    net = models.Sequential([layers.Dense(5, activation="tanh", input_shape=(6,)),
                             layers.Dense(4, activation="relu"),
                             layers.Dense(3, activation="softmax")])
    net.compile("sgd", "categorical_crossentropy")
    _, all_grads = net._loss_and_gradients(x, y)
    net.layers[1].trainable = False
    net.compile("sgd", "categorical_crossentropy")
    _, grads = net._loss_and_gradients(x, y)
    assert len(grads) == 4                      # layers 0 and 2 only
    for g, want in zip(grads, all_grads[:2] + all_grads[4:]):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7)


def test_trainable_must_be_boolean():
    with pytest.raises(ValueError, match="trainable"):
        layers.Dense(3, trainable="yes")
    layer = layers.Dense(3)
    with pytest.raises(ValueError, match="trainable"):
        layer.trainable = 1
    with pytest.raises(ValueError, match="trainable"):
        models.Sequential().trainable = None


# ---- shared layers ---------------------------------------------------------------------

def test_a_shared_layer_is_the_same_weights_in_both_models(any_backend):
    """The transfer idiom: Sequential(old.layers[:-1]) + a new head."""
    x, labels, y = _blobs_onehot(120)
    old = _mlp(16, compile_args=("rmsprop", "categorical_crossentropy"))
    base = old.layers[0]
    new = models.Sequential(old.layers[:-1] + [layers.Dense(2, activation="softmax")])
    assert new.layers[0] is base
    new.compile("rmsprop", "sparse_categorical_crossentropy")
    new.fit(x, (labels > 0).astype(np.int64), epochs=1, verbose=0)
    # the old model sees what the new one trained (no stale copy) ...
    np.testing.assert_array_equal(old.layers[0].kernel, new.layers[0].kernel)
    # ... and training the old one moves the new one's first layer too
    old.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(old.get_weights()[0], new.get_weights()[0])
    ref = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])
    ref.set_weights(old.get_weights())
    np.testing.assert_array_equal(ref.predict(x), old.predict(x))


def test_a_shared_layer_with_another_input_shape_is_a_clear_error():
    shared = layers.Dense(4, input_shape=(8,))
    models.Sequential([shared])
    other = models.Sequential([layers.Dense(5, input_shape=(3,))])
    with pytest.raises(ValueError, match="shared by two models"):
        other.add(shared)
    assert len(other.layers) == 1


# ---- saving ------------------------------------------------------------------------------

def test_compiled_but_never_fitted_model_saves_and_loads(tmp_path, any_backend):
    x, labels, y = _blobs_onehot()
    net = _mlp(compile_args=("rmsprop", "categorical_crossentropy", ["accuracy"]))
    net.save(tmp_path / "m.npz")
    back = models.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    # both then train identically from the same (empty) optimizer state
    utils.set_random_seed(9)
    net.fit(x, y, epochs=1, verbose=0)
    utils.set_random_seed(9)
    back.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(net.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_new_layers_and_trainable_round_trip(tmp_path, any_backend):
    x, _ = _images(side=5)
    utils.set_random_seed(0)
    net = models.Sequential([layers.Input(shape=(5, 5)), layers.Flatten(),
                             layers.Dense(7), layers.Activation("tanh"),
                             layers.Dense(3, activation="softmax")], name="roundtrip")
    net.layers[2].trainable = False
    net.compile("adam", "categorical_crossentropy", ["accuracy"])
    net.fit(x, _images(side=5)[1], epochs=1, verbose=0)
    net.save(tmp_path / "m.npz")
    back = models.load_model(tmp_path / "m.npz")
    assert [type(l).__name__ for l in back.layers] == ["InputLayer", "Flatten", "Dense",
                                                      "Activation", "Dense"]
    assert back.name == "roundtrip" and back.layers[2].trainable is False
    assert back.input_shape == (None, 5, 5)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    for a, b in zip(back.optimizer.get_state()[1], net.optimizer.get_state()[1]):
        np.testing.assert_array_equal(a, b)
    utils.set_random_seed(3)
    net.fit(x, _images(side=5)[1], epochs=1, verbose=0)
    utils.set_random_seed(3)
    back.fit(x, _images(side=5)[1], epochs=1, verbose=0)
    for a, b in zip(net.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)


def _v1_file(path, net):
    """A file exactly as format 1 (the first release) wrote it."""
    config = {"format": "fastdense.model", "format_version": 1, "class_name": "Sequential",
              "config": {"name": net.name, "layers": [
                  {"class_name": "Dense", "config": {
                      "name": l.name, "units": l.units, "activation": l.activation.name,
                      "use_bias": l.use_bias, "kernel_initializer": l.kernel_initializer,
                      "bias_initializer": l.bias_initializer,
                      **({"batch_input_shape": [None, 8]} if i == 0 else {})}}
                  for i, l in enumerate(net.layers)]},
              "input_dim": 8, "compile": net._compile_config}
    arrays = {"weight_%d" % i: w for i, w in enumerate(net.get_weights())}
    config["n_weights"] = len(arrays)
    it, state = net.optimizer.get_state()
    config["optimizer_state"] = {"iterations": it, "n_arrays": len(state)}
    for i, a in enumerate(state):
        arrays["optimizer_state_%d" % i] = a
    arrays["config"] = np.array(json.dumps(config))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_format_1_files_still_load(tmp_path):
    x, labels, y = _blobs_onehot()
    net = _mlp(compile_args=("rmsprop", "categorical_crossentropy", ["accuracy"]))
    net.fit(x, y, epochs=1, verbose=0)
    _v1_file(tmp_path / "v1.npz", net)
    back = models.load_model(tmp_path / "v1.npz")
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    assert back.optimizer.iterations == net.optimizer.iterations


def test_save_weights_from_config_load_weights_bit_for_bit(tmp_path, any_backend):
    x, labels = blobs(n=64, features=8, classes=3)
    utils.set_random_seed(0)
    net = models.Sequential([layers.Dense(8, activation="relu", input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])
    net.compile("rmsprop", "categorical_crossentropy")
    net.fit(x, np.eye(3, dtype=np.float32)[labels], epochs=1, verbose=0)
    net.save_weights(tmp_path / "w.npz")
    clone = models.Sequential.from_config(net.get_config())
    assert not np.array_equal(clone.get_weights()[0], net.get_weights()[0])
    clone.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(clone.predict(x), net.predict(x))
    # from JSON, and reading the weights out of a whole-model file too
    net.save(tmp_path / "m.npz")
    again = models.model_from_json(net.to_json())
    again.load_weights(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict(x), net.predict(x))


def test_load_weights_checks_everything_before_changing_anything(tmp_path):
    utils.set_random_seed(0)
    net = models.Sequential([layers.Dense(8, input_shape=(8,)), layers.Dense(3)])
    net.save_weights(tmp_path / "w.npz")
    other = models.Sequential([layers.Dense(8, input_shape=(8,)), layers.Dense(4)])
    before = other.get_weights()
    with pytest.raises(ValueError, match="expects"):
        other.load_weights(tmp_path / "w.npz")
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)
    other.load_weights(tmp_path / "w.npz", skip_mismatch=True)     # layer 0 only
    np.testing.assert_array_equal(other.get_weights()[0], net.get_weights()[0])
    with pytest.raises(ValueError, match="layers"):
        models.Sequential([layers.Dense(8, input_shape=(8,))]).load_weights(tmp_path / "w.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        net.load_weights(tmp_path / "junk.npz")


def test_overwrite_false_and_unsupported_formats(tmp_path):
    net = models.Sequential([layers.Dense(2, input_shape=(3,))])
    net.save(tmp_path / "m.npz")
    with pytest.raises(FileExistsError):
        net.save(tmp_path / "m.npz", overwrite=False)
    with pytest.raises(ValueError, match="HDF5"):
        net.save(tmp_path / "m.h5", save_format="h5")


def test_clone_model_has_fresh_weights_and_same_config():
    utils.set_random_seed(0)
    net = models.Sequential([layers.Dense(8, activation="relu", input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])
    clone = models.clone_model(net)
    assert clone.get_config()["layers"] == net.get_config()["layers"]
    assert clone.layers[0] is not net.layers[0]
    assert not np.array_equal(clone.get_weights()[0], net.get_weights()[0])
    fn = models.clone_model(net, clone_function=lambda l: layers.deserialize(
        layers.serialize(l)))
    assert [l.name for l in fn.layers] == [l.name for l in net.layers]


# ---- the rest of the model surface ---------------------------------------------------------

def test_get_layer_pop_and_weights_lists():
    net = models.Sequential([layers.Dense(8, input_shape=(4,), name="a"),
                             layers.Dense(3, name="b")])
    assert net.get_layer("b") is net.layers[1] and net.get_layer(index=0).name == "a"
    with pytest.raises(ValueError, match="no layer named"):
        net.get_layer("c")
    assert len(net.weights) == 4 and len(net.trainable_weights) == 4
    net.pop()
    assert [l.name for l in net.layers] == ["a"]
    net.pop()
    with pytest.raises(TypeError, match="no layers"):
        net.pop()


def test_train_on_batch_and_test_on_batch(any_backend):
    x, labels = blobs(n=32, features=8, classes=3)
    y = np.eye(3, dtype=np.float32)[labels]
    utils.set_random_seed(0)
    net = models.Sequential([layers.Dense(8, activation="relu", input_shape=(8,)),
                             layers.Dense(3, activation="softmax")])
    net.compile(optimizers.SGD(0.1), "categorical_crossentropy", ["accuracy"])
    loss0, acc0 = net.test_on_batch(x, y)
    res = net.train_on_batch(x, y, return_dict=True)
    assert set(res) == {"loss", "accuracy"}
    np.testing.assert_allclose(res["loss"], loss0, rtol=1e-5)   # loss before the update
    assert net.optimizer.iterations == 1
    assert net.test_on_batch(x, y)[0] < loss0
    np.testing.assert_array_equal(net.predict_on_batch(x), net.predict(x))


def test_unsupported_keras_names_say_so():
    from fastdense import _unsupported
    net = models.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(_unsupported.UnsupportedError, match="dense"):
        net.fit_generator
    assert not hasattr(net, "to_yaml")
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        net.nonsense
    with pytest.raises(TypeError, match="supported ones"):
        layers.Dense(3, kernal_initializer="zeros")
    with pytest.raises(ValueError, match="constraint"):
        layers.Dense(3, kernel_constraint="max_norm")
    net.compile("sgd", "mse")
    with pytest.raises(TypeError, match="generator"):
        net.fit((b for b in []), verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        net.fit(np.zeros((4, 3)), np.zeros((4, 2)), steps_per_epoch=2, verbose=0)


def test_failed_fit_of_an_image_model_leaves_it_unchanged():
    x, y = _images(side=4)
    utils.set_random_seed(0)
    net = models.Sequential([layers.Flatten(input_shape=(4, 4)),
                             layers.Dense(3, activation="softmax")])
    net.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    net.fit(x, y, epochs=1, verbose=0)
    before = snapshot(net)
    with pytest.raises(ValueError, match="reshape"):
        net.fit(x.reshape(len(x), 16), y, verbose=0)
    assert_same_snapshot(before, snapshot(net))


@pytest.mark.parametrize("where,name", [("layers", "Conv2D"), ("layers", "LSTM"),
                                        ("layers", "Embedding"), ("models", "Model"),
                                        ("fastdense", "Model"),
                                        ("fastdense", "preprocessing")])
def test_keras_names_fastdense_lacks_raise_a_clear_error(where, name):
    import importlib
    from fastdense import _unsupported
    mod = fastdense if where == "fastdense" else importlib.import_module("fastdense." + where)
    with pytest.raises(_unsupported.UnsupportedError) as info:
        getattr(mod, name)
    text = str(info.value)
    assert "dense" in text and "not supported" in text or "not included" in text
    assert isinstance(info.value, AttributeError)       # hasattr keeps working
    assert not hasattr(mod, name)


def test_metric_instances_and_functions_round_trip(tmp_path):
    from fastdense import metrics
    x, labels, y = _blobs_onehot()

    def hits(y_true, y_pred):
        return (y_true.argmax(1) == y_pred.argmax(1)).astype(np.float64)

    net = _mlp(compile_args=("rmsprop", "categorical_crossentropy",
                             ["accuracy", metrics.Precision(thresholds=0.3, name="p"),
                              hits]))
    net.fit(x, y, epochs=1, verbose=0)
    net.save(tmp_path / "m.npz")
    want = net.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match="custom_objects"):
        models.load_model(tmp_path / "m.npz")
    back = models.load_model(tmp_path / "m.npz", custom_objects={"hits": hits})
    assert back.metrics_names == ["loss", "accuracy", "p", "hits"]
    np.testing.assert_allclose(back.evaluate(x, y, verbose=0), want, rtol=1e-6)
    assert models.load_model(tmp_path / "m.npz", compile=False).optimizer is None


@pytest.mark.parametrize("make", [
    lambda: optimizers.Adam(learnig_rate=0.1),
    lambda: __import__("fastdense").losses.Huber(deltaa=2.0),
    lambda: __import__("fastdense").callbacks.EarlyStopping(patiense=3),
    lambda: __import__("fastdense").metrics.AUC(num_threshold=10),
    lambda: __import__("fastdense").regularizers.L2(l1=0.1),
    lambda: layers.Dropout(0.5, sed=1),
    lambda: _mlp(compile_args=("sgd", "mse")).fit(np.zeros((2, 8)), np.zeros((2, 3)),
                                                   epoch=1),
])
def test_unknown_keywords_name_the_supported_ones(make):
    with pytest.raises(TypeError, match="supported"):
        make()


def test_keras_activation_layers_train_and_round_trip(tmp_path, any_backend):
    x, labels, y = _blobs_onehot()
    utils.set_random_seed(0)
    net = models.Sequential([layers.Dense(8, input_shape=(8,)), layers.LeakyReLU(alpha=0.1),
                             layers.Dense(8), layers.ELU(alpha=0.5), layers.ReLU(),
                             layers.Dense(3), layers.Softmax()])
    net.compile("adam", "categorical_crossentropy", ["accuracy"])
    h = net.fit(x, y, epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    z = x @ net.get_weights()[0] + net.get_weights()[1]
    np.testing.assert_allclose(net.layers[1].activation(z), np.where(z > 0, z, 0.1 * z),
                               rtol=1e-6)
    net.save(tmp_path / "m.npz")
    back = models.load_model(tmp_path / "m.npz")
    assert back.layers[1].alpha == pytest.approx(0.1) and back.layers[3].alpha == 0.5
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    with pytest.raises(ValueError, match="LeakyReLU"):
        layers.ReLU(negative_slope=0.2)
