#!/usr/bin/env bash
# tools/sanitize.sh -- AddressSanitizer + UndefinedBehaviorSanitizer (+ leak
# detection) over the fastdense C kernels and the Python tests that use them.
#
#   bash tools/sanitize.sh            # from anywhere; exits non-zero on any finding
#
# 1. C: tests_c/kernels_driver.c (every fd_* kernel against a naive reference,
#    many shapes/strides, NaN) is built together with src_c/*.c under
#    -fsanitize=address,undefined, with the flags of the real build
#    (fastdense/_build_utils: the SIMD files with their own ISA flags) at
#    -O1, once with -fopenmp and once without, and run with detect_leaks=1 on each
#    SIMD path this CPU has (FASTDENSE_SIMD unset, =avx2, =generic).
# 2. Python: the extension is built with FASTDENSE_CFLAGS=<sanitizers> into a
#    copy of the tree in a temporary folder (the normal in-place build is never
#    touched), then the kernel, ops, backend, thread, model, concurrency and
#    interrupt tests run against it with libasan/libubsan preloaded into
#    CPython (detect_leaks=0 there: the interpreter itself "leaks" at exit;
#    the C driver above is where leaks are checked): every tests/test_*.py
#    but test_leaks.py (RSS means nothing under ASan's quarantine),
#    test_datasets.py, test_bench_smoke.py and test_packaging.py (no kernel
#    code to check).
#
# Environment: PYTHON (default: python, else python3), CC (default: gcc),
# FASTDENSE_SANITIZE_KEEP=1 keeps the temporary folder, FASTDENSE_SANITIZE_C_ONLY=1
# skips step 2.  Needs gcc (or clang) with the ASan/UBSan runtimes (Debian:
# libasan8, libubsan1, which come with gcc-12); when missing and apt-get is
# usable as root, they are installed, otherwise the script says what to install.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CC=${CC:-gcc}
if [ -z "${PYTHON:-}" ]; then
    if command -v python >/dev/null 2>&1; then PYTHON=python; else PYTHON=python3; fi
fi
SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
# The kernels' flags come from fastdense/_build_utils, the module setup.py
# builds with, so the two builds cannot drift: the per-file ISA rule
# (*_avx2.c / *_avx512.c), the baseline flags and the SIMD macros.
BUILD_UTILS=("$PYTHON" "$REPO/fastdense/_build_utils/__init__.py")
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

start=$(date +%s)
say() { echo "== sanitize: $*"; }
die() { echo "sanitize: FAILED: $*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastdense-sanitize.XXXXXX")
cleanup() {
    if [ "${FASTDENSE_SANITIZE_KEEP:-}" = 1 ]; then
        echo "sanitize: kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# ---- 0. the toolchain ------------------------------------------------------
runtime() {  # the path of a sanitizer runtime, or nothing
    local p
    p=$("$CC" -print-file-name="$1" 2>/dev/null || true)
    if [ -n "$p" ] && [ "$p" != "$1" ] && [ -e "$p" ]; then echo "$p"; fi
}
command -v "$CC" >/dev/null 2>&1 || die "no C compiler '$CC' (install gcc)"
if [ -z "$(runtime libasan.so)" ] || [ -z "$(runtime libubsan.so)" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "ASan/UBSan runtimes missing: installing them with apt-get"
        apt-get update -qq
        ver=$("$CC" -dumpversion | cut -d. -f1)
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libgcc-$ver-dev" \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libasan8 libubsan1
    fi
fi
LIBASAN=$(runtime libasan.so)
LIBUBSAN=$(runtime libubsan.so)
[ -n "$LIBASAN" ] && [ -n "$LIBUBSAN" ] || \
    die "the ASan/UBSan runtimes of $CC are missing (Debian: apt-get install libasan8 libubsan1)"
say "$("$CC" --version | head -1); runtimes $LIBASAN $LIBUBSAN"

# ---- 1. the C kernels, pure C, leak detection on ----------------------------
SIMD_LEVELS=("" avx2 generic)
c_driver() {  # $1: "omp" or "noomp"
    local mode=$1 omp="" objdir="$WORK/c-$1" src obj objs=()
    mkdir -p "$objdir"
    local noomp="" isa
    if [ "$mode" = omp ]; then omp="-fopenmp"; else noomp="--no-openmp"; fi
    declare -A flags
    for isa in base avx2 avx512; do
        # the build's flags, then -O1 (a later -O wins: a faster ASan build)
        flags[$isa]="$("${BUILD_UTILS[@]}" --cflags "$isa" $noomp) -O1 $omp $SAN_FLAGS -I$REPO/src_c $("${BUILD_UTILS[@]}" --macros)"
    done
    while IFS=$'\t' read -r src isa; do
        obj="$objdir/$(basename "$src" .c).o"
        "$CC" ${flags[$isa]} -c "$src" -o "$obj"
        objs+=("$obj")
    done < <("${BUILD_UTILS[@]}" --sources "$REPO/src_c"; printf '%s\tbase\n' "$REPO/tests_c/kernels_driver.c")
    [ "${#objs[@]}" -gt 2 ] || die "no kernel sources found by fastdense/_build_utils"
    "$CC" $omp $SAN_FLAGS "${objs[@]}" -lm -o "$objdir/kernels_driver"
    local simd out
    for simd in "${SIMD_LEVELS[@]}"; do
        say "C driver, ${mode}, FASTDENSE_SIMD=${simd:-(unset)}"
        out="$objdir/run-${simd:-native}.log"
        if ! FASTDENSE_SIMD="$simd" ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1" \
                "$objdir/kernels_driver" >"$out" 2>&1; then
            tail -n 60 "$out" >&2
            die "C driver ($mode, FASTDENSE_SIMD=${simd:-unset})"
        fi
        # any sanitizer report fails the run, even one that did not exit non-zero
        if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$out"; then
            cat "$out" >&2
            die "sanitizer report in the C driver ($mode, FASTDENSE_SIMD=${simd:-unset})"
        fi
        grep -E "^kernels_driver:|passed, " "$out" | sed 's/^/   /'
    done
}
c_driver omp
c_driver noomp

if [ "${FASTDENSE_SANITIZE_C_ONLY:-}" = 1 ]; then
    say "C only: done in $(( $(date +%s) - start )) s"
    exit 0
fi

# ---- 2. the extension under ASan/UBSan, and the Python tests -----------------
TREE="$WORK/tree"
mkdir -p "$TREE"
for item in setup.py pyproject.toml README.md src_c fastdense tests; do
    [ -e "$REPO/$item" ] && cp -R "$REPO/$item" "$TREE/"
done
rm -rf "$TREE"/fastdense/_ckernels*.so "$TREE"/fastdense/_ckernels.c "$TREE"/build \
    "$TREE"/fastdense/__pycache__ "$TREE"/tests/__pycache__
# a venv made by `pip install -e .` has no Cython (pip built in isolation):
# bring the build requirements of pyproject.toml into this environment
if ! "$PYTHON" -c "import Cython, setuptools, numpy" >/dev/null 2>&1; then
    say "installing the build requirements (setuptools, Cython) with pip"
    "$PYTHON" -m pip install -q "setuptools>=64" "Cython>=3" "numpy>=2" \
        || die "cannot install setuptools/Cython for the sanitized build"
fi
say "building the extension with $SAN_FLAGS in $TREE"
if ! (cd "$TREE" && FASTDENSE_REQUIRE_C=1 FASTDENSE_CFLAGS="$SAN_FLAGS" \
        "$PYTHON" setup.py build_ext --inplace >"$WORK/build.log" 2>&1); then
    tail -n 40 "$WORK/build.log" >&2
    die "building the sanitized extension"
fi

export LD_PRELOAD="$LIBASAN $LIBUBSAN${LD_PRELOAD:+ $LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:detect_stack_use_after_return=1"
export FASTDENSE_REQUIRE_C=1
export PYTHONPATH="$TREE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
cd "$TREE"
# the tests must import this sanitized build, not an installed one
"$PYTHON" - "$TREE" <<'PY' || die "the sanitized extension does not load from the copy"
import os, subprocess, sys
import fastdense, fastdense._ckernels as k
tree = os.path.realpath(sys.argv[1])
assert os.path.realpath(k.__file__).startswith(tree + os.sep), k.__file__
assert fastdense.backend() == "c", fastdense.backend()
ldd = subprocess.run(["ldd", k.__file__], capture_output=True, text=True).stdout
assert "libasan" in ldd and "libubsan" in ldd, ldd
print("   sanitized extension:", k.__file__, "simd:", k.simd_name())
PY

# every test file but those that exercise no kernel or mean nothing under ASan:
# RSS bounds (test_leaks), dataset parsing (test_datasets), timing (bench smoke)
# and the end-to-end runs that would take too long under ASan (MNIST
# accuracy, the CLI training in a subprocess): the model tests cover that code
SKIP_TESTS=" test_leaks.py test_datasets.py test_bench_smoke.py test_mnist.py test_cli.py test_packaging.py "
tests=()
for t in tests/test_*.py; do
    case "$SKIP_TESTS" in *" $(basename "$t") "*) continue ;; esac
    tests+=("$t")
done
say "pytest under ASan/UBSan: ${tests[*]}"
log="$WORK/pytest.log"
set +e
# --capture=sys: a sanitizer writes its report to fd 2 and stops the process;
# with pytest's default fd capture the report would die with it, unseen.
"$PYTHON" -m pytest -q -p no:cacheprovider --capture=sys "${tests[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if grep -qE "ERROR: AddressSanitizer|runtime error:" "$log"; then
    die "sanitizer report in the Python tests (above)"
fi
[ "$status" = 0 ] || die "pytest under the sanitizers exited $status"

say "clean: C driver (omp/noomp x ${#SIMD_LEVELS[@]} SIMD paths) and ${#tests[@]} test files, $(( $(date +%s) - start )) s"
