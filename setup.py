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
* The extension is optional: if it cannot be built, ``pip install .`` still
  installs a package that runs on NumPy (``fastdense.backend() == 'numpy'``).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_DIR = "src_c"

# ISA flags per SIMD file suffix: (gcc/clang flags, MSVC flags, macro)
SIMD_VARIANTS = {
    "_avx2.c": (["-mavx2", "-mfma"], ["/arch:AVX2"], "FD_HAVE_AVX2"),
    "_avx512.c": (["-mavx512f", "-mavx512vl", "-mavx512dq", "-mfma"],
                  ["/arch:AVX512"], "FD_HAVE_AVX512"),
}

OPENMP_TEST = textwrap.dedent("""
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel num_threads(2) reduction(+:n)
        n += 1;
        printf("%d\\n", n);
        return n == 2 ? 0 : 1;
    }
""")


def log(msg):
    print("fastdense build: " + msg, file=sys.stderr)


def _is_msvc(compiler):
    return compiler.compiler_type == "msvc"


def _openmp_candidates(compiler):
    if _is_msvc(compiler):
        return [(["/openmp"], [])]
    cands = [(["-fopenmp"], ["-fopenmp"])]
    if sys.platform == "darwin":
        for prefix in ("/opt/homebrew/opt/libomp", "/usr/local/opt/libomp",
                       os.environ.get("LIBOMP_PREFIX", "")):
            if prefix and os.path.exists(os.path.join(prefix, "include", "omp.h")):
                cands.append((["-Xpreprocessor", "-fopenmp", "-I%s/include" % prefix],
                              ["-L%s/lib" % prefix, "-lomp"]))
    return cands


def probe_openmp(compiler):
    """The (compile, link) flags that build and run an OpenMP program, or None."""
    if os.environ.get("FASTDENSE_NO_OPENMP"):
        log("OpenMP disabled by FASTDENSE_NO_OPENMP")
        return None
    for cflags, ldflags in _openmp_candidates(compiler):
        tmp = tempfile.mkdtemp(prefix="fd-omp-")
        try:
            src = os.path.join(tmp, "omp_test.c")
            with open(src, "w") as f:
                f.write(OPENMP_TEST)
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            exe = os.path.join(tmp, "omp_test")
            compiler.link_executable(objs, "omp_test", output_dir=tmp,
                                     extra_postargs=ldflags)
            if sys.platform == "win32":
                exe += ".exe"
            subprocess.run([exe], check=True, capture_output=True, timeout=60)
            log("OpenMP found: %s" % " ".join(cflags))
            return cflags, ldflags
        except Exception as exc:  # compile, link or run failed: try the next
            log("OpenMP with %s failed (%s)" % (" ".join(cflags), type(exc).__name__))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log("WARNING: no working OpenMP; fastdense kernels will run on one thread")
    return None


class BuildExt(build_ext):
    """Compiles src_c/*.c with per-file flags, then the Cython module.

    The work happens in build_extension (one extension), where setuptools
    turns a compile error of an *optional* extension into a warning: a
    machine without a working compiler still installs the NumPy package.
    """

    def build_extension(self, ext):
        compiler = self.compiler
        msvc = _is_msvc(compiler)
        omp = probe_openmp(compiler)
        # -fno-math-errno: sqrtf need not set errno, so loops with it
        # vectorise; results are unchanged (IEEE sqrt is exact either way).
        # -ffp-contract=off: no a*b+c fused into one rounding in the
        # compiler-vectorised loops (the -mfma builds of optim_rows.h must give
        # the portable build's bits; -std=c99 implies it for gcc, not clang).
        # -fvisibility=hidden: the fd_* kernels are internal to the module
        # (only PyInit__ckernels is exported), so they cannot clash with or be
        # interposed by another library's symbols of the same name.
        base = ["/O2"] if msvc else ["-O3", "-std=c99", "-fno-math-errno",
                                     "-ffp-contract=off", "-fvisibility=hidden"]
        if not msvc:
            base += ["-Wall"] if omp else ["-Wall", "-Wno-unknown-pragmas"]
        # FASTDENSE_CFLAGS lets a developer add flags (sanitizers, -g, ...).
        extra = os.environ.get("FASTDENSE_CFLAGS", "").split()
        omp_c, omp_ld = omp if omp else ([], [])

        sources = sorted(glob.glob(os.path.join(KERNEL_DIR, "*.c")))
        plain = [s for s in sources if not any(s.endswith(k) for k in SIMD_VARIANTS)]
        macros, objects = [], []
        for suffix, (gnu_flags, msvc_flags, macro) in SIMD_VARIANTS.items():
            files = [s for s in sources if s.endswith(suffix)]
            if not files:
                continue
            flags = base + omp_c + (msvc_flags if msvc else gnu_flags) + extra
            try:
                objects += compiler.compile(files, output_dir=self.build_temp,
                                            include_dirs=[KERNEL_DIR],
                                            extra_postargs=flags)
                macros.append((macro, "1"))
                log("compiled %s with %s" % (", ".join(files), " ".join(flags)))
            except Exception as exc:
                log("WARNING: %s left out (%s); the portable path serves"
                    % (", ".join(files), exc))
        objects += compiler.compile(plain, output_dir=self.build_temp,
                                    include_dirs=[KERNEL_DIR], macros=macros,
                                    extra_postargs=base + omp_c + extra)
        ext.extra_objects = objects + list(ext.extra_objects or [])
        ext.include_dirs = [KERNEL_DIR] + list(ext.include_dirs or [])
        ext.extra_compile_args = list(ext.extra_compile_args or []) + \
            (["/O2"] if msvc else ["-O2", "-fvisibility=hidden"]) + omp_c + extra
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
    ext = Extension("fastdense._ckernels", ["fastdense/_ckernels.pyx"],
                    depends=sorted(glob.glob(os.path.join(KERNEL_DIR, "*"))),
                    optional=not os.environ.get("FASTDENSE_REQUIRE_C"))
    exts = cythonize([ext], compiler_directives={
        "language_level": "3", "boundscheck": False, "wraparound": False,
        "initializedcheck": False, "cdivision": True, "embedsignature": True})
    for e in exts:  # cythonize does not carry `optional` over
        e.optional = ext.optional
    return exts


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
