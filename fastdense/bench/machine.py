"""What the numbers were measured on: the CPU, the BLAS behind NumPy, the load,
the environment, and this process's memory.

The BLAS is named from two places: NumPy's build configuration
(``np.show_config``: which library it was built against) and, at run time,
threadpoolctl's ``threadpool_info()``: the library actually loaded, its
version, threading layer and the *kernel family* it chose for this CPU
(OpenBLAS's ``architecture``: Haswell, SkylakeX, Zen, ...).  The kernel family
matters: OpenBLAS picks it when it loads, from the CPU, unless
``OPENBLAS_CORETYPE`` says otherwise.  This workspace sets
``OPENBLAS_CORETYPE=Haswell`` (and ``OPENBLAS_L2_SIZE``), which makes
NumPy's OpenBLAS run its AVX2 kernels on a CPU where users get the AVX-512
(SkylakeX) ones; :func:`openblas_env` finds those variables so that the bench
can say so and measure NumPy without them as well (``worker.py``).
"""
import importlib.util
import os
import platform
import sys

import numpy as np

from .. import _config

#: variables OpenBLAS reads once, when it loads, that change its kernels
OPENBLAS_LOAD_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

#: other variables that change what the bench measures, printed with the machine
ENV_VARS = ("FASTDENSE_NUM_THREADS", "FASTDENSE_SIMD", "FASTDENSE_BACKEND",
            "FASTDENSE_SPARSE_INPUTS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
            "GOMP_SPINCOUNT", "OMP_PROC_BIND", "OPENBLAS_NUM_THREADS",
            "OPENBLAS_THREAD_TIMEOUT") + OPENBLAS_LOAD_VARS


# ---------------------------------------------------------------------------
# CPU
# ---------------------------------------------------------------------------

def amd_generation(family, model):
    """The Zen generation of an AMD CPU from its cpuid family and model, or None.

    Family 0x17 is Zen / Zen+ (models below 0x30) and Zen 2; family 0x19 is
    Zen 3 (models 0x00-0x0F, 0x20-0x2F, 0x40-0x5F) and Zen 4 (0x10-0x1F,
    0x60-0x7F, 0xA0-0xAF: AVX-512 on 256-bit halves); family 0x1A is Zen 5
    (AVX-512; full 512-bit data paths on the server parts).
    """
    if family is None or model is None:
        return None
    if family == 0x17:
        return "Zen / Zen+" if model < 0x30 else "Zen 2"
    if family == 0x19:
        if 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF:
            return "Zen 4"
        return "Zen 3"
    if family == 0x1A:
        return "Zen 5"
    if family in (0x15, 0x16):
        return "pre-Zen (Bulldozer/Jaguar family)"
    if family > 0x1A:
        return "newer than Zen 5 (family 0x%X)" % family
    return None


def _parse_cpuinfo(text):
    """The first processor's fields of a /proc/cpuinfo text."""
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_info(cpuinfo_text=None):
    """Model name, vendor, cpuid family/model/stepping, SIMD flags, generation.

    Reads /proc/cpuinfo (Linux), else ``sysctl`` (macOS), else ``platform``.
    ``cpuinfo_text`` replaces /proc/cpuinfo (tests).
    """
    info = {"model_name": None, "vendor": None, "family": None, "model": None,
            "stepping": None, "flags": [], "generation": None, "source": None}
    if cpuinfo_text is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo_text = f.read()
        except OSError:
            cpuinfo_text = None
    if cpuinfo_text:
        f = _parse_cpuinfo(cpuinfo_text)
        info["source"] = "/proc/cpuinfo"
        info["model_name"] = f.get("model name") or f.get("cpu model") or f.get("processor")
        info["vendor"] = f.get("vendor_id") or f.get("cpu implementer")

        def num(key):
            try:
                v = f[key]
                return int(v, 16) if v.lower().startswith("0x") else int(v, 10)
            except (KeyError, ValueError):
                return None
        info["family"], info["model"], info["stepping"] = (
            num("cpu family"), num("model"), num("stepping"))
        flags = set((f.get("flags") or f.get("features") or "").split())
        info["flags"] = sorted(flags & {"avx", "avx2", "fma", "avx512f", "avx512bw",
                                        "avx512vl", "avx512_bf16", "avx512_vnni", "asimd",
                                        "sve"})
    elif sys.platform == "darwin":
        import subprocess
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        info["model_name"], info["source"] = out or None, "sysctl"
    if not info["model_name"]:
        info["model_name"] = platform.processor() or platform.machine() or "unknown"
        info["source"] = info["source"] or "platform"
    if info["vendor"] == "AuthenticAMD":
        info["generation"] = amd_generation(info["family"], info["model"])
    return info


def describe_cpu(ci):
    """One line: model name, and for x86 the family/model (with the Zen name)."""
    text = ci.get("model_name") or "unknown CPU"
    if ci.get("family") is not None and ci.get("model") is not None:
        vendor = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}.get(ci.get("vendor"),
                                                                       ci.get("vendor") or "")
        text += " (%s family 0x%X model 0x%02X%s)" % (
            vendor, ci["family"], ci["model"],
            (": " + ci["generation"]) if ci.get("generation") else "")
    return text


# ---------------------------------------------------------------------------
# BLAS
# ---------------------------------------------------------------------------

def have_threadpoolctl():
    return importlib.util.find_spec("threadpoolctl") is not None


def blas_pools():
    """threadpoolctl's view of the BLAS libraries loaded now (a list), or a string
    saying why there is none."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return [{k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                   "threading_layer", "architecture", "num_threads")}
            for p in threadpool_info() if p.get("user_api") == "blas"]


def blas_info():
    """NumPy's BLAS: the build's (name, version, configuration) and the loaded
    libraries' (``threadpools``: internal_api, version, architecture, ...)."""
    info = {}
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = deps.get("blas", {})
        info = {k: blas.get(k) for k in ("name", "version", "openblas configuration")
                if blas.get(k) is not None}
    except Exception as exc:  # pragma: no cover - very old NumPy
        info = {"error": "%s: %s" % (type(exc).__name__, exc)}
    info["threadpools"] = blas_pools()
    return info


def kernel_family(blas):
    """The kernel family of the loaded BLAS (OpenBLAS's 'architecture'), or None."""
    pools = blas.get("threadpools") if isinstance(blas, dict) else None
    if isinstance(pools, list):
        for p in pools:
            if p.get("architecture"):
                return p["architecture"]
    return None


def describe_blas(blas):
    """'OpenBLAS 0.3.31 (libscipy_openblas64_, pthreads), kernels Haswell' or the
    build's name when threadpoolctl is missing."""
    pools = blas.get("threadpools")
    if isinstance(pools, list) and pools:
        parts = []
        for p in pools:
            name = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(
                p.get("internal_api"), p.get("internal_api") or "?")
            extra = ", ".join(str(p[k]) for k in ("prefix", "threading_layer") if p.get(k))
            parts.append("%s %s%s, kernels %s" % (
                name, p.get("version") or "", (" (%s)" % extra) if extra else "",
                p.get("architecture") or "not reported"))
        return "; ".join(parts)
    why = pools if isinstance(pools, str) else "no BLAS library found loaded"
    return "%s %s (from NumPy's build configuration; kernel family unknown: %s)" % (
        blas.get("name", "?"), blas.get("version", ""), why)


def openblas_env(environ=None):
    """The OpenBLAS load-time variables set in ``environ`` (default os.environ)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in OPENBLAS_LOAD_VARS if k in environ}


# ---------------------------------------------------------------------------
# load and memory
# ---------------------------------------------------------------------------

def load1():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def rss_bytes():
    """This process's resident set size now, or None where it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def peak_rss_bytes():
    """This process's peak resident set size (``ru_maxrss``), or None."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024   # Linux: kilobytes


def memory_info():
    return {"rss_bytes": rss_bytes(), "peak_rss_bytes": peak_rss_bytes()}


# ---------------------------------------------------------------------------
# all of it
# ---------------------------------------------------------------------------

def machine_info():
    """CPU, cores, SIMD level, OpenMP, NumPy and its BLAS, the relevant env."""
    from .. import __version__
    try:
        load = os.getloadavg()
    except (AttributeError, OSError):
        load = None
    ci = cpu_info()
    blas = blas_info()
    return {
        "cpu": ci["model_name"],
        "cpu_info": ci,
        "cpu_text": describe_cpu(ci),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "usable_cores": _config._usable_cores(),
        "logical_cpus": os.cpu_count(),
        "simd": _config.simd_level(),
        "openmp": _config.openmp_enabled(),
        "c_extension": _config.c_available(),
        "c_error": _config.c_error(),
        "fastdense": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "threadpoolctl": _threadpoolctl_version(),
        "blas": blas,
        "blas_text": describe_blas(blas),
        "blas_kernels": kernel_family(blas),
        "openblas_env": openblas_env(),
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
        "loadavg_at_start": list(load) if load else None,
    }


def _threadpoolctl_version():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return getattr(threadpoolctl, "__version__", "?")

