"""`fastdense train` / `python -m fastdense` and the `bench` hand-off."""
import os
import pathlib
import subprocess
import sys
import types

import pytest

from fastdense import cli

REPO = pathlib.Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("FASTDENSE_DATA", str(REPO.parent / "shared" / "data"))
    return env


def test_python_m_fastdense_train_one_epoch():
    data = pathlib.Path(_env()["FASTDENSE_DATA"]) / "mnist"
    if not data.is_dir() and not os.environ.get("CI"):
        pytest.skip("no MNIST in %s" % data)
    proc = subprocess.run(
        [sys.executable, "-m", "fastdense", "train", "--epochs", "1", "--seed", "0"],
        capture_output=True, text=True, env=_env(), cwd=str(REPO), timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Epoch 1/1" in out
    assert "469/469 [==============================]" in out
    assert "\r" not in out                       # a pipe, not a terminal
    acc = float(out.split("test_acc:")[1].split()[0])
    assert 0.9 < acc <= 1.0
    assert "seconds per epoch:" in out


def test_train_reports_missing_data(tmp_path, capsys):
    rc = cli.main(["train", "--epochs", "1", "--data", str(tmp_path / "nowhere")])
    assert rc == 1
    assert "cannot load the training data" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["train", "--epochs", "-1"], ["train", "--batch-size", "0"],
                                  ["train", "--backend", "cuda"], ["train", "--threads", "x"]])
def test_train_rejects_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "train" in capsys.readouterr().out


def test_bench_delegates_to_fastdense_bench(monkeypatch):
    seen = []
    fake = types.ModuleType("fastdense.bench")
    fake.main = lambda argv: seen.append(argv) or 0
    import fastdense
    monkeypatch.setitem(sys.modules, "fastdense.bench", fake)
    monkeypatch.setattr(fastdense, "bench", fake, raising=False)
    assert cli.main(["bench", "--quick", "--threads", "1"]) == 0
    assert seen == [["--quick", "--threads", "1"]]


def test_bench_missing_module_exits_2(monkeypatch, capsys):
    import fastdense
    monkeypatch.setitem(sys.modules, "fastdense.bench", None)   # import fails
    monkeypatch.delattr(fastdense, "bench", raising=False)
    assert cli.main(["bench"]) == 2
    assert "fastdense.bench" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["fastdense", "fastdense.bench"])
def test_bench_help_from_the_package(module):
    """`python -m fastdense bench --help` and `python -m fastdense.bench --help`
    reach the bench package's parser, old and new flags alike."""
    argv = [sys.executable, "-m", module] + (["bench"] if module == "fastdense" else [])
    proc = subprocess.run(argv + ["--help"], capture_output=True, text=True, env=_env(),
                          cwd=str(REPO), timeout=120)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--quick", "--kernels-only", "--threads", "--sizes", "--json",
                 "--no-imdb", "--imdb-epochs", "--no-users-numpy", "OPENBLAS_CORETYPE"):
        assert flag in proc.stdout, flag


def test_bench_entry_is_the_package_main():
    from fastdense import bench
    from fastdense.bench import cli as bench_cli
    assert bench.main is bench_cli.main
    assert bench.__file__.endswith(os.path.join("bench", "__init__.py"))
