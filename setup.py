"""Build of fastdense: the C kernels in src_c/ plus the Cython bindings, as one
optional extension module ``fastdense._ckernels``.

* OpenMP is probed by compiling *and running* a tiny program with each
  candidate flag set (gcc/clang ``-fopenmp``; Apple clang ``-Xpreprocessor
  -fopenmp -lomp`` when libomp is found; MSVC ``/openmp``).  Without it the
  build warns and the kernels run single-threaded.
* Every src_c file is compiled here with its own flags: the baseline files
  with the portable ones (no ``-march=native``, no ``-ffast-math``), files
  named ``*_avx2.c`` / ``*_avx512.c`` with the ISA flags for that file only.
  The CPU is checked at run time (src_c/cpu.c) before those paths are taken.
  When a SIMD file does not compile (old compiler), it is left out and the
  portable path serves.
* The flags, that naming rule and the OpenMP probe live in
  fastdense/_build_utils (loaded here by its path, without importing the
  package), which tools/sanitize.sh asks too, so the two builds cannot drift.
* The extension is optional: if it cannot be built, ``pip install .`` still
  installs a package that runs on NumPy (``fastdense.backend() == 'numpy'``).
"""
import glob
import importlib.util
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_DIR = "src_c"


def _load_build_utils():
    """fastdense/_build_utils, loaded by its path: importing the fastdense
    package would need the very extension this file builds."""
    path = os.path.join(HERE, "fastdense", "_build_utils", "__init__.py")
    spec = importlib.util.spec_from_file_location("_fastdense_build_utils", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build_utils = _load_build_utils()
log = build_utils.log


class BuildExt(build_ext):
    """Compiles src_c/*.c with per-file flags, then the Cython module.

    The work happens in build_extension (one extension), where setuptools
    turns a compile error of an *optional* extension into a warning: a
    machine without a working compiler still installs the NumPy package.
    The flags, the *_avx2.c / *_avx512.c rule and the OpenMP probe are
    fastdense/_build_utils's (tools/sanitize.sh uses the same).
    """

    def build_extension(self, ext):
        compiler = self.compiler
        omp = build_utils.probe_openmp(compiler)
        # FASTDENSE_CFLAGS lets a developer add flags (sanitizers, -g, ...).
        extra = os.environ.get("FASTDENSE_CFLAGS", "").split()
        objects, module_flags = build_utils.compile_kernels(
            compiler, KERNEL_DIR, self.build_temp, omp, extra)
        omp_ld = list(omp[1]) if omp else []
        ext.extra_objects = objects + list(ext.extra_objects or [])
        ext.include_dirs = [KERNEL_DIR] + list(ext.include_dirs or [])
        ext.extra_compile_args = list(ext.extra_compile_args or []) + module_flags
        ext.extra_link_args = list(ext.extra_link_args or []) + omp_ld + extra
        super().build_extension(ext)


def extensions():
    try:
        from Cython.Build import cythonize
    except ImportError:
        log("WARNING: Cython is not installed; building the NumPy-only package")
        return []
    # depends: a changed kernel file relinks the module (the kernels reach
    # it as extra objects, which setuptools does not track by itself)
    try:  # the bindings read arrays through the NumPy C API (ops.dot's route)
        import numpy
    except ImportError:
        log("WARNING: NumPy is not installed; building the NumPy-only package")
        return []
    ext = Extension("fastdense._ckernels", ["fastdense/_ckernels.pyx"],
                    include_dirs=[numpy.get_include()],
                    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                    depends=sorted(glob.glob(os.path.join(KERNEL_DIR, "*"))),
                    optional=not os.environ.get("FASTDENSE_REQUIRE_C"))
    exts = cythonize([ext], compiler_directives={
        "language_level": "3", "boundscheck": False, "wraparound": False,
        "initializedcheck": False, "cdivision": True, "embedsignature": True})
    for e in exts:  # cythonize does not carry `optional` over
        e.optional = ext.optional
    return exts


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
