"""The ctypes declarations agree with include/alcm.h (every function, every type)."""
import ctypes
import re

import numpy as np

import alcm
from alcm import _lib
import check_coverage


def _ctypes_ok(ctype, decl):
    base = {
        "size_t": ctypes.c_size_t, "double": ctypes.c_double, "float": ctypes.c_float,
        "uint32_t": ctypes.c_uint32,
        "uint64_t": ctypes.c_uint64, "alcm_status": ctypes.c_uint32, "alcm_mode": ctypes.c_uint32,
        "alcm_backend": ctypes.c_uint32, "alcm_non_finite": ctypes.c_uint32,
        "const char*": ctypes.c_char_p, "char*": ctypes.c_char_p, "void": None,
        "const void*": ctypes.c_void_p, "void*": ctypes.c_void_p,
    }
    if ctype in base:
        return decl is base[ctype]
    m = re.fullmatch(r"(const )?(\w+)(\*+)", ctype)
    assert m, ctype
    name, stars = m.group(2), m.group(3)
    if name in check_coverage._HANDLES:
        return decl is (_lib.c_handle if stars == "*" else _lib.c_handle_out)
    if isinstance(decl, _lib._Nullable):
        decl = decl._base
    if hasattr(decl, "_dtype_"):  # ndpointer
        want = {"float": np.float32, "double": np.float64, "uint8_t": np.uint8, "size_t": np.uintp,
                "alcm_stats": _lib.STATS_DTYPE}[name]
        const = bool(m.group(1))
        return decl._dtype_ == np.dtype(want) and ("WRITEABLE" in decl.__name__) != const
    structs = {"alcm_report": _lib.Report, "alcm_frame_info": _lib.FrameInfo,
               "alcm_metrics": _lib.Metrics, "alcm_scheduler_info": _lib.SchedulerInfo,
               "alcm_stats": _lib.Stats, "double": ctypes.c_double, "size_t": ctypes.c_size_t,
               "uint32_t": ctypes.c_uint32}
    return decl == ctypes.POINTER(structs[name])


def test_every_header_function_is_declared_with_matching_types(repo):
    funcs = check_coverage.parse_header((repo / "include" / "alcm.h").read_text())
    assert len(funcs) == 98
    assert set(funcs) == set(_lib.PROTOTYPES), set(funcs) ^ set(_lib.PROTOTYPES)
    lib = alcm.load_library()
    for name, (ret, params) in funcs.items():
        restype, argtypes = _lib.PROTOTYPES[name]
        assert len(argtypes) == len(params), name
        assert _ctypes_ok(ret, restype), (name, ret, restype)
        for ct, decl in zip(params, argtypes):
            assert _ctypes_ok(ct, decl), (name, ct, decl)
        fn = getattr(lib, name)
        assert fn.restype is restype and list(fn.argtypes) == list(argtypes)


def test_constants_match_header(repo):
    h = (repo / "include" / "alcm.h").read_text()
    defines = check_coverage.header_constants(h)
    # Every integer #define (ids and limits) has a copy in _lib with the same value, and _lib
    # has no ALCM_* integer the header lacks.
    ours = {k: v for k, v in vars(_lib).items()
            if k.startswith("ALCM_") and isinstance(v, int) and not isinstance(v, bool)}
    assert set(defines) == set(ours), set(defines) ^ set(ours)
    for k, v in defines.items():
        assert ours[k] == v, (k, ours[k], v)
    # The ones the C ABI must have whatever the parser finds (a parser bug would otherwise make
    # both sides empty): the ids the Python API names, and the limits it checks.
    for k in ["ALCM_MAX_RANK", "ALCM_MAX_THREADS", "ALCM_FRAME_HEADER_MAX", "ALCM_MAX_ELEMENTS",
              "ALCM_FORMAT_VERSION", "ALCM_BACKEND_RANS", "ALCM_BACKEND_RANS_MODEL",
              "ALCM_DTYPE_F32", "ALCM_VERSION_NUMBER"]:
        assert k in defines, k
    # The name tables of the public API cover every mode and backend id of the header.
    assert sorted(alcm.MODES.values()) == sorted(
        v for k, v in defines.items() if k.startswith("ALCM_MODE_"))
    assert sorted(alcm.BACKEND_NAMES) == sorted(
        v for k, v in defines.items() if k.startswith("ALCM_BACKEND_"))
    assert sorted(alcm.NON_FINITE.values()) == sorted(
        v for k, v in defines.items() if k.startswith("ALCM_NON_FINITE_"))
    assert re.search(r'#define ALCM_VERSION_STRING "([^"]+)"', h).group(1) \
        == _lib.ALCM_VERSION_STRING == alcm.version()
    statuses = dict((n, int(v)) for n, v in re.findall(r"\b(ALCM_(?:OK|ERR_\w+)) = (\d+)", h))
    assert statuses == {v: k for k, v in _lib.STATUS_NAMES.items()}
    for code, name in _lib.STATUS_NAMES.items():
        assert alcm.status_string(code).startswith(name)
    assert alcm.status_string(12345) == "unknown status"


def test_constant_check_detects_drift(repo):
    h = (repo / "include" / "alcm.h").read_text()
    defines = check_coverage.header_constants(h)
    assert defines["ALCM_MAX_THREADS"] == 64 and defines["ALCM_BACKEND_RANS_MODEL"] == 3
    # A changed value in the header is seen by the parser (so the comparison above can fail).
    changed = h.replace("#define ALCM_MAX_THREADS 64", "#define ALCM_MAX_THREADS 65")
    assert check_coverage.header_constants(changed)["ALCM_MAX_THREADS"] == 65
    assert "ALCM_H" not in defines and "ALCM_VERSION_STRING" not in defines


def test_struct_layouts():
    # sizes implied by the header's field lists on LP64
    assert ctypes.sizeof(_lib.Report) == 8 * 8 + 8 + 8
    assert ctypes.sizeof(_lib.FrameInfo) == 16 + 64 + 8 * 5
    assert ctypes.sizeof(_lib.Metrics) == 48
    assert ctypes.sizeof(_lib.SchedulerInfo) == 40
    assert ctypes.sizeof(_lib.Stats) == _lib.STATS_DTYPE.itemsize == 56


def test_versions():
    assert alcm.version_number() == 100
    assert alcm.format_version() == alcm.ALCM_FORMAT_VERSION == 7
    assert alcm.__version__ == alcm.version()
