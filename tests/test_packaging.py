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
               "benchmarks/numpy_mnist.py", "tools/sanitize.sh",
               "fastdense/_build_utils/__init__.py"]
    missing = sorted(set(wanted) - names)
    assert not missing, "the sdist lacks %s" % missing
    assert not any(n.endswith((".so", ".o")) for n in names)


# ---- the build flags live in one place (fastdense/_build_utils) -------------

BUILD_UTILS = os.path.join(ROOT, "fastdense", "_build_utils", "__init__.py")


def _build_utils(*args):
    return subprocess.run([sys.executable, BUILD_UTILS] + list(args), cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def test_build_utils_classify_every_kernel_file_by_its_suffix():
    src = os.path.join(ROOT, "src_c")
    rows = [line.split("\t") for line in _build_utils("--sources", src).splitlines()]
    listed = {os.path.basename(path): isa for path, isa in rows}
    on_disk = {f for f in os.listdir(src) if f.endswith(".c")}
    assert set(listed) == on_disk
    for name, isa in listed.items():
        want = ("avx512" if name.endswith("_avx512.c") else
                "avx2" if name.endswith("_avx2.c") else "base")
        assert isa == want, (name, isa)


def test_build_utils_flags_are_portable_and_per_isa():
    base = _build_utils("--cflags", "base").split()
    avx2 = _build_utils("--cflags", "avx2").split()
    avx512 = _build_utils("--cflags", "avx512").split()
    for flags in (base, avx2, avx512):
        assert "-ffp-contract=off" in flags and "-fvisibility=hidden" in flags
        assert not any(f.startswith("-march") or f == "-ffast-math" for f in flags)
    assert not any(f.startswith("-mavx") for f in base)
    assert "-mavx2" in avx2 and "-mfma" in avx2 and "-mavx512f" not in avx2
    assert "-mavx512f" in avx512 and "-mavx512vl" in avx512
    assert "-Wno-unknown-pragmas" in _build_utils("--cflags", "base", "--no-openmp").split()
    assert _build_utils("--macros").split() == ["-DFD_HAVE_AVX2=1", "-DFD_HAVE_AVX512=1"]


@pytest.mark.parametrize("path", ["setup.py", "tools/sanitize.sh"])
def test_no_build_defines_its_own_isa_flags(path):
    """setup.py and sanitize.sh take the flags from _build_utils, never spell them."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    assert "_build_utils" in text
    for flag in ("-mavx2", "-mavx512f", "-mfma", "-ffp-contract", "-fno-math-errno"):
        assert flag not in text, "%s spells %s itself" % (path, flag)
