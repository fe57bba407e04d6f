"""Line-aligned buffers (fastdense._memory) and where the model uses them.

The GEMM reads B in place only when its rows start on a 64-byte line (see
src_c/gemm.c), so the model's weights, gradients, optimizer state and fit
workspaces must all start on one; NumPy's own large arrays start 16 bytes
past a line.
"""
import numpy as np
import pytest

from fastdense import _memory, models, optimizers
from fastdense.engine import workspace

from _model_helpers import blobs, small_model


def _aligned(a):
    return a.size == 0 or a.ctypes.data % 64 == 0


@pytest.mark.parametrize("shape,expect", [(0, (0,)), (1, (1,)), (17, (17,)),
                                          ((3, 5), (3, 5)), ((0, 4), (0, 4)),
                                          ((128, 512), (128, 512)), ((2, 3, 4), (2, 3, 4))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_empty_and_zeros_are_line_aligned_ndarrays(shape, expect, dtype):
    for make in (_memory.empty, _memory.zeros):
        a = make(shape, dtype)
        assert type(a) is np.ndarray and a.shape == expect and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
        assert _aligned(a), "%s%s starts %d bytes past a line" % (
            make.__name__, shape, a.ctypes.data % 64)
    assert not np.any(_memory.zeros(shape, dtype))


def test_buffers_do_not_overlap_and_outlive_their_raw_buffer():
    bufs = [_memory.zeros(100) for _ in range(20)]
    for i, b in enumerate(bufs):
        b[:] = i
    for i, b in enumerate(bufs):
        assert np.all(b == i)


def _collect(monkeypatch, cls):
    """Every instance of ``cls`` made while the test runs."""
    seen = []
    init = cls.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        seen.append(self)
    monkeypatch.setattr(cls, "__init__", spy)
    return seen


@pytest.mark.parametrize("opt", ["rmsprop", "adam", "sgd_momentum"])
def test_model_weights_state_and_workspaces_start_on_a_line(monkeypatch, opt, any_backend):
    optimizer = {"rmsprop": optimizers.RMSprop(), "adam": optimizers.Adam(),
                 "sgd_momentum": optimizers.SGD(momentum=0.9)}[opt]
    seen = _collect(monkeypatch, workspace.Workspace)
    stores = _collect(monkeypatch, workspace.GradientStore)
    x, labels = blobs(n=100, features=8, classes=3)
    net = small_model(optimizer=optimizer, hidden=32)
    net.fit(x, np.eye(3, dtype=np.float32)[labels], epochs=1, batch_size=32, verbose=0)
    net.predict(x)
    # each layer's parameters are one buffer starting on a line, kernel first
    for layer in net.layers:
        assert _aligned(layer.param_buffer) and _aligned(layer.kernel)
    # the flat gradient vector starts on a line and so does each layer's segment
    assert len(stores) == 1
    store = stores[0]
    assert _aligned(store.flat)
    for layer in net.layers:
        kernel_grad = store.grads_for(layer)[0]
        assert _aligned(kernel_grad)
    state = net.optimizer._state
    assert state and all(_aligned(s) for s in state)
    assert len(seen) >= 2, "fit and predict each build a workspace"
    for ws in seen:
        extra = [b for e in ws.extra for b in e.values()]
        for group in (ws.outs, ws.grads or [], extra, [ws.probs, ws.batch]):
            for buf in group:
                if buf is not None:
                    assert _aligned(buf), "a workspace buffer is not line-aligned"
