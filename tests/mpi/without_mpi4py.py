"""Run with mpi4py impossible to import, as on a machine without the extra.

python tests/mpi/without_mpi4py.py scenario        # fastdense without mpi4py
python tests/mpi/without_mpi4py.py pytest ARGS...  # part of the suite, same
"""
import importlib.abc
import sys


class _NoMPI(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mpi4py" or name.startswith("mpi4py."):
            raise ImportError("No module named %r (blocked by the test)" % name)
        return None


sys.meta_path.insert(0, _NoMPI())
for name in [m for m in sys.modules if m == "mpi4py" or m.startswith("mpi4py.")]:
    del sys.modules[name]


def scenario():
    import os
    import tempfile
    import warnings

    import numpy as np
    import fastdense
    from fastdense import callbacks, models, utils
    import fastdense.distributed as dist
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import dataset, network

    assert "mpi4py" not in sys.modules, "importing fastdense imported mpi4py"
    # without init: everything as usual
    utils.set_random_seed(2)
    x, labels = dataset(64)
    y = utils.to_categorical(labels, 3)
    net = network()
    net.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert callbacks._is_main_process() and dist.size() == 1
    # a launcher that announces several processes: init must refuse
    os.environ["PMI_SIZE"] = "2"
    try:
        dist.init()
    except ImportError as exc:
        assert "one of 2 processes" in str(exc) and "fastdense[mpi]" in str(exc), exc
    else:
        raise AssertionError("init() under a launcher without mpi4py did not raise")
    del os.environ["PMI_SIZE"]
    # plain python: a warning, then a world of one
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert dist.init() == 1
    assert any("fastdense[mpi]" in str(w.message) for w in caught), caught
    assert dist.is_initialized() and dist.size() == 1 and dist.rank() == 0
    assert dist.is_main() and dist.local_slice(5) == slice(0, 5)
    dist.barrier()
    h = net.fit(x, y, batch_size=16, epochs=2, verbose=0)
    ev = net.evaluate(x, y, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        net.save(path)
        back = models.load_model(path)
        assert np.array_equal(back.predict(x), net.predict(x))
    assert len(h.history["loss"]) == 2 and np.isfinite(ev[0])
    assert "mpi4py" not in sys.modules
    print("fastdense", fastdense.__version__, "without mpi4py: OK")


if __name__ == "__main__":
    if sys.argv[1] == "scenario":
        scenario()
    elif sys.argv[1] == "pytest":
        import pytest
        sys.exit(pytest.main(sys.argv[2:]))
    else:
        sys.exit("usage: without_mpi4py.py scenario | pytest ARGS...")
