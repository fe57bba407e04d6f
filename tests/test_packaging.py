"""The source distribution holds everything the build and the README need.

setup.py compiles src_c/*.c itself (per-file ISA flags), so setuptools does
not list those files as sources; an sdist without MANIFEST.in installed a
NumPy-only package, silently (the extension is optional).
"""
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tracked(prefix):
    try:
        out = subprocess.run(["git", "ls-files", prefix], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return out


def test_sdist_holds_the_c_sources_and_the_cython_file(tmp_path):
    src = tmp_path / "src"
    files = _tracked(".")
    if not files:
        pytest.skip("not a git checkout")
    for rel in files:               # a clean copy: no build/ or .so of this tree
        os.makedirs(src / os.path.dirname(rel), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), src / rel)
    proc = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)],
                          cwd=src, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (archive,) = [p for p in os.listdir(tmp_path) if p.endswith(".tar.gz")]
    with tarfile.open(tmp_path / archive) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    wanted = [f for f in files if f.startswith(("src_c/", "tests/", "tests_c/"))]
    wanted += ["fastdense/_ckernels.pyx", "setup.py", "pyproject.toml", "README.md",
               "benchmarks/numpy_mnist.py", "tools/sanitize.sh"]
    missing = sorted(set(wanted) - names)
    assert not missing, "the sdist lacks %s" % missing
    assert not any(n.endswith((".so", ".o")) for n in names)
