"""Build utilities of fastdense: the one place that knows how src_c/ is compiled.

setup.py loads this file by its path (it must not import the fastdense
package, which needs the extension being built), and tools/sanitize.sh runs it
as a small command-line tool, so the flags of the two builds cannot drift
(the scikit-learn ``_build_utils`` arrangement).  Standard library only.

What it knows:

* ``BASE_FLAGS``: the flags of every kernel file (gcc/clang, and MSVC).  No
  ``-march=native``, no ``-ffast-math``; why each flag is there is said beside
  it.
* ``SIMD_VARIANTS``: files named ``*_avx2.c`` / ``*_avx512.c`` get the ISA
  flags of their suffix, for that file only, and the other files the macro
  (``FD_HAVE_AVX2`` / ``FD_HAVE_AVX512``) that lets them call it.  Any new
  file that follows the naming rule is picked up with no edit here.
* ``probe_openmp(compiler)``: the OpenMP flags that compile, link *and run* a
  test program with a distutils/setuptools compiler, or None.

Command line (what tools/sanitize.sh asks)::

    python fastdense/_build_utils/__init__.py --cflags base      # baseline files
    python fastdense/_build_utils/__init__.py --cflags avx512    # base + ISA flags
    python fastdense/_build_utils/__init__.py --isa src_c/gemm_avx2.c   # avx2
    python fastdense/_build_utils/__init__.py --macros           # -DFD_HAVE_...=1
    python fastdense/_build_utils/__init__.py --sources src_c    # file<TAB>isa
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

# -O3: the kernels' loops.  -std=c99: the language of src_c.
# -fno-math-errno: sqrtf need not set errno, so loops with it vectorise;
#   results are unchanged (IEEE sqrt is exact either way).
# -ffp-contract=off: no a*b+c fused into one rounding in the
#   compiler-vectorised loops (the -mfma builds of rows.h must give the
#   portable build's bits; -std=c99 implies it for gcc, not clang).
# -fvisibility=hidden: the fd_* kernels are internal to the module (only
#   PyInit__ckernels is exported), so they cannot clash with or be
#   interposed by another library's symbols of the same name.
# -Wall: warnings on (-Wno-unknown-pragmas is added when OpenMP is off, so
#   the omp pragmas do not warn).
BASE_FLAGS = ["-O3", "-std=c99", "-fno-math-errno", "-ffp-contract=off",
              "-fvisibility=hidden", "-Wall"]
BASE_FLAGS_MSVC = ["/O2"]
NO_OPENMP_FLAGS = ["-Wno-unknown-pragmas"]

# The Cython module itself (glue: -O2 is plenty).
CYTHON_FLAGS = ["-O2", "-fvisibility=hidden"]
CYTHON_FLAGS_MSVC = ["/O2"]

# ISA flags per SIMD file suffix: name -> (suffix, gcc/clang flags, MSVC
# flags, the macro the other files see when the variant was built).
SIMD_VARIANTS = {
    "avx2": ("_avx2.c", ["-mavx2", "-mfma"], ["/arch:AVX2"], "FD_HAVE_AVX2"),
    "avx512": ("_avx512.c", ["-mavx512f", "-mavx512vl", "-mavx512dq", "-mfma"],
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


def isa_of(path):
    """'avx2' or 'avx512' for a file named *_avx2.c / *_avx512.c, else 'base'."""
    for name, (suffix, _gnu, _msvc, _macro) in SIMD_VARIANTS.items():
        if path.endswith(suffix):
            return name
    return "base"


def cflags(isa="base", msvc=False, openmp=True):
    """The compile flags of a kernel file of `isa` ('base', 'avx2', 'avx512'),
    without the OpenMP flags themselves (the probe's, or none)."""
    if msvc:
        flags = list(BASE_FLAGS_MSVC)
    else:
        flags = list(BASE_FLAGS) + ([] if openmp else list(NO_OPENMP_FLAGS))
    if isa != "base":
        _suffix, gnu, msvc_flags, _macro = SIMD_VARIANTS[isa]
        flags += msvc_flags if msvc else gnu
    return flags


def simd_macros(isas=None):
    """[(macro, '1')] for the SIMD variants in `isas` (default: all)."""
    names = SIMD_VARIANTS if isas is None else isas
    return [(SIMD_VARIANTS[n][3], "1") for n in names]


def kernel_sources(kernel_dir):
    """{isa: [paths]} of kernel_dir/*.c, sorted; 'base' first."""
    groups = {"base": []}
    groups.update((name, []) for name in SIMD_VARIANTS)
    for path in sorted(glob.glob(os.path.join(kernel_dir, "*.c"))):
        groups[isa_of(path)].append(path)
    return groups


def is_msvc(compiler):
    return compiler.compiler_type == "msvc"


def _openmp_candidates(compiler):
    if is_msvc(compiler):
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
    """The (compile, link) flags that build and run an OpenMP program, or None.

    gcc/clang ``-fopenmp``; Apple clang ``-Xpreprocessor -fopenmp -lomp`` when
    libomp is found; MSVC ``/openmp``.  FASTDENSE_NO_OPENMP=1 skips it.
    """
    if os.environ.get("FASTDENSE_NO_OPENMP"):
        log("OpenMP disabled by FASTDENSE_NO_OPENMP")
        return None
    for ompc, ompld in _openmp_candidates(compiler):
        tmp = tempfile.mkdtemp(prefix="fd-omp-")
        try:
            src = os.path.join(tmp, "omp_test.c")
            with open(src, "w") as f:
                f.write(OPENMP_TEST)
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=ompc)
            exe = os.path.join(tmp, "omp_test")
            compiler.link_executable(objs, "omp_test", output_dir=tmp,
                                     extra_postargs=ompld)
            if sys.platform == "win32":
                exe += ".exe"
            subprocess.run([exe], check=True, capture_output=True, timeout=60)
            log("OpenMP found: %s" % " ".join(ompc))
            return ompc, ompld
        except Exception as exc:  # compile, link or run failed: try the next
            log("OpenMP with %s failed (%s)" % (" ".join(ompc), type(exc).__name__))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log("WARNING: no working OpenMP; fastdense kernels will run on one thread")
    return None


def compile_kernels(compiler, kernel_dir, build_temp, omp, extra=()):
    """Compile kernel_dir/*.c with their per-file flags; return
    (objects, compile flags of the Cython module).

    The SIMD variants go first; one that does not compile (an old compiler)
    is left out with a warning, and the baseline files are built without its
    macro, so the portable path serves.
    """
    msvc = is_msvc(compiler)
    omp_c = list(omp[0]) if omp else []
    extra = list(extra)
    groups = kernel_sources(kernel_dir)
    built, objects = [], []
    for isa in SIMD_VARIANTS:
        files = groups[isa]
        if not files:
            continue
        flags = cflags(isa, msvc, omp is not None) + omp_c + extra
        try:
            objects += compiler.compile(files, output_dir=build_temp,
                                        include_dirs=[kernel_dir],
                                        extra_postargs=flags)
            built.append(isa)
            log("compiled %s with %s" % (", ".join(files), " ".join(flags)))
        except Exception as exc:
            log("WARNING: %s left out (%s); the portable path serves"
                % (", ".join(files), exc))
    objects += compiler.compile(groups["base"], output_dir=build_temp,
                                include_dirs=[kernel_dir],
                                macros=simd_macros(built),
                                extra_postargs=cflags("base", msvc, omp is not None)
                                + omp_c + extra)
    module_flags = list(CYTHON_FLAGS_MSVC if msvc else CYTHON_FLAGS) + omp_c + extra
    return objects, module_flags


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python fastdense/_build_utils/__init__.py",
        description="The compiler flags of the fastdense kernels (gcc/clang).")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--cflags", metavar="ISA", choices=["base"] + list(SIMD_VARIANTS),
                   help="flags of a baseline (base) or SIMD (avx2, avx512) file")
    g.add_argument("--isa", metavar="FILE", help="base, avx2 or avx512 for FILE")
    g.add_argument("--macros", action="store_true",
                   help="-D flags that enable every SIMD variant in the baseline files")
    g.add_argument("--sources", metavar="DIR", help="every DIR/*.c and its ISA")
    p.add_argument("--no-openmp", action="store_true",
                   help="flags for a build without OpenMP")
    args = p.parse_args(argv)
    if args.cflags:
        print(" ".join(cflags(args.cflags, openmp=not args.no_openmp)))
    elif args.isa:
        print(isa_of(args.isa))
    elif args.macros:
        print(" ".join("-D%s=%s" % m for m in simd_macros()))
    else:
        for isa, files in kernel_sources(args.sources).items():
            for f in files:
                print("%s\t%s" % (f, isa))
    return 0


if __name__ == "__main__":
    sys.exit(main())
