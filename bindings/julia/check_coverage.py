#!/usr/bin/env python3
"""Checks that bindings/julia/ALCM.jl/src/ALCM.jl wraps every function of include/alcm.h and
copies every integer constant of it with the same value.

A Julia toolchain cannot be installed on the build machines, so this parses both files:

* the header: every function prototype (return type, name, parameter C types);
* ALCM.jl: every ``@ccall lib.alcm_xxx(arg::T, ...)::R`` expression (``lib`` is ``libalcm``,
  the library path constant);
* the header's ``#define ALCM_* <integer>`` lines (ids and limits) and ALCM.jl's
  ``const ALCM_* = ...`` lines, which must agree name for name and value for value.

It fails when a header function has no ``@ccall``, when a ``@ccall`` names a function the header
does not declare, or when an argument count, an argument type or the return type disagrees with
the header under the C -> Julia type map below.

Usage: ``python3 bindings/julia/check_coverage.py`` (exit status 1 on a mismatch); the pytest
suite of the Python binding runs it too (bindings/python/tests/test_julia_coverage.py).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEADER = REPO / "include" / "alcm.h"
JULIA = REPO / "bindings" / "julia" / "ALCM.jl" / "src" / "ALCM.jl"

# C type (normalised: no "struct", single spaces, "*" glued) -> accepted Julia spellings.
_HANDLES = ("alcm_encoder", "alcm_feedback", "alcm_predictor", "alcm_scheduler",
            "alcm_exchange", "alcm_residual_store", "alcm_lowrank", "alcm_archive",
            "alcm_archive_writer")
_STRUCTS = {"alcm_report": "Report", "alcm_frame_info": "FrameInfo", "alcm_metrics": "Metrics",
            "alcm_scheduler_info": "SchedulerInfo", "alcm_stats": "Stats"}


def julia_types_for(ctype: str) -> set:
    t = ctype
    base = {
        "size_t": {"Csize_t"},
        "double": {"Cdouble", "Float64"},
        "float": {"Cfloat", "Float32"},
        "uint32_t": {"UInt32", "Cuint"},
        "uint64_t": {"UInt64", "Culonglong"},
        "alcm_status": {"UInt32", "alcm_status", "Cuint"},
        "alcm_mode": {"UInt32", "Cuint"},
        "alcm_backend": {"UInt32", "Cuint"},
        "alcm_non_finite": {"UInt32", "Cuint"},
        "void": {"Cvoid", "Nothing"},
        "const char*": {"Cstring", "Ptr{UInt8}", "Ptr{Cchar}"},
        "char*": {"Ptr{UInt8}", "Ptr{Cchar}"},
        "const float*": {"Ptr{Cfloat}", "Ptr{Float32}"},
        "float*": {"Ptr{Cfloat}", "Ptr{Float32}"},
        "const double*": {"Ptr{Cdouble}", "Ptr{Float64}"},
        "double*": {"Ptr{Cdouble}", "Ptr{Float64}", "Ref{Cdouble}", "Ref{Float64}"},
        "const uint8_t*": {"Ptr{UInt8}"},
        "uint8_t*": {"Ptr{UInt8}"},
        "const size_t*": {"Ptr{Csize_t}"},
        "size_t*": {"Ptr{Csize_t}", "Ref{Csize_t}"},
        "const void*": {"Ptr{Cvoid}"},
        "void*": {"Ptr{Cvoid}"},
        "uint32_t*": {"Ptr{UInt32}", "Ref{UInt32}"},
    }
    if t in base:
        return base[t]
    m = re.fullmatch(r"(const )?(alcm_\w+)(\*{1,2})", t)
    if m:
        name, stars = m.group(2), m.group(3)
        if name in _HANDLES:
            if stars == "*":
                return {"Ptr{Cvoid}", f"Ptr{{{name}}}"}
            return {"Ptr{Ptr{Cvoid}}", "Ref{Ptr{Cvoid}}", f"Ptr{{Ptr{{{name}}}}}", f"Ref{{Ptr{{{name}}}}}"}
        if name in _STRUCTS and stars == "*":
            jl = _STRUCTS[name]
            return {f"Ptr{{{jl}}}", f"Ref{{{jl}}}"}
    raise ValueError(f"no Julia mapping for C type {ctype!r}")


def _norm_ctype(decl: str) -> str:
    """'const struct alcm_encoder *enc' -> 'const alcm_encoder*' (parameter name dropped)."""
    d = decl.replace("struct ", "").strip()
    d = re.sub(r"\s*\*\s*", "*", d)
    d = re.sub(r"\s+", " ", d)
    # drop the parameter name (last identifier) unless the declaration is only a type
    m = re.fullmatch(r"(.*?[\w*])\s*\b([A-Za-z_]\w*)", d)
    if m and m.group(1).strip() not in ("", "const", "struct"):
        head = m.group(1).strip()
        if d.endswith("*"):
            return d
        return head
    return d


def parse_header(text: str) -> dict:
    """name -> (return C type, [parameter C types]) for every function prototype."""
    # remove comments and preprocessor lines
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    funcs = {}
    for m in re.finditer(r"([A-Za-z_][\w\s\*]*?)\b(alcm_\w+)\s*\(([^()]*)\)\s*;", text):
        ret, name, params = m.group(1), m.group(2), m.group(3)
        ret = re.sub(r"\s*\*\s*", "*", ret.replace("struct ", "")).strip()
        ret = re.sub(r"\s+", " ", ret).split("}")[-1].split(";")[-1].strip()
        if ret.startswith("typedef") or not ret:
            continue
        ps = [p.strip() for p in params.split(",")]
        if ps == ["void"]:
            ps = []
        funcs[name] = (ret, [_norm_ctype(p) for p in ps])
    return funcs


_CCALL = re.compile(r"@ccall\s+(?:\$?\(?\w+\)?\.)?(alcm_\w+)\s*\(")


def _split_top(s: str) -> list:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def parse_julia(text: str) -> dict:
    """name -> list of (return Julia type, [argument Julia types]) for every @ccall."""
    text = re.sub(r"#=.*?=#", " ", text, flags=re.S)
    text = "\n".join(l.split("#")[0] if not l.lstrip().startswith("#") else "" for l in text.splitlines())
    calls = {}
    for m in _CCALL.finditer(text):
        name = m.group(1)
        i, depth = m.end(), 1
        while depth:
            if i >= len(text):
                raise ValueError(f"unbalanced @ccall {name}")
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        args = text[m.end(): i - 1]
        rm = re.match(r"\s*::\s*([\w{}.]+(?:\{[^}]*\})?)", text[i:])
        if not rm:
            raise ValueError(f"@ccall {name} has no return type annotation")
        ret = rm.group(1)
        types = []
        for a in _split_top(args):
            a = a.strip()
            if not a:
                continue
            if a.startswith(";"):
                break
            if "::" not in a:
                raise ValueError(f"@ccall {name}: argument {a!r} has no type annotation")
            types.append(re.sub(r"\s+", "", a.rsplit("::", 1)[1]))
        calls.setdefault(name, []).append((ret, types))
    return calls


def header_constants(text: str) -> dict:
    """name -> int for every ``#define ALCM_* <integer>`` of the header (the ids and limits;
    the version string and the include guard are not integers and are left out)."""
    out = {}
    for name, value in re.findall(r"^#define (ALCM_\w+) (\S+)\s*$", text, flags=re.M):
        m = re.fullmatch(r"(\d+)[uUlL]*", value)
        if m:
            out[name] = int(m.group(1))
    return out


def parse_julia_constants(text: str) -> dict:
    """name -> int for every top-level ``const ALCM_X = n`` or ``= UInt32(n)`` of ALCM.jl."""
    out = {}
    for name, value in re.findall(r"^const (ALCM_\w+)\s*=\s*([^#\n]+)", text, flags=re.M):
        v = value.strip()
        m = re.fullmatch(r"(?:U?Int\d+|Csize_t|Cuint)\((\d+)\)|(\d+)", v)
        if m:
            out[name] = int(m.group(1) or m.group(2))
    return out


def check_constants(header_text: str, julia_text: str) -> list:
    """Problems with ALCM.jl's copies of the header's integer constants: every ``#define`` must
    have a ``const`` of the same value, and every ``const ALCM_*`` integer must be in the
    header."""
    h = header_constants(header_text)
    j = parse_julia_constants(julia_text)
    problems = []
    if not h:
        problems.append("no integer #define ALCM_* found in the header")
    for name, value in h.items():
        if name not in j:
            problems.append(f"{name}: no const in ALCM.jl (header value {value})")
        elif j[name] != value:
            problems.append(f"{name}: ALCM.jl has {j[name]}, the header {value}")
    for name in j:
        if name not in h:
            problems.append(f"{name}: const in ALCM.jl but not an integer #define of the header")
    return problems


def check(header_text: str, julia_text: str) -> list:
    """A list of problems (empty when the wrapper covers the header exactly)."""
    problems = []
    h = parse_header(header_text)
    j = parse_julia(julia_text)
    if not h:
        problems.append("no function prototypes found in the header")
    for name, (ret, params) in h.items():
        if name not in j:
            problems.append(f"{name}: no @ccall wrapper in ALCM.jl")
            continue
        for jret, jargs in j[name]:
            if len(jargs) != len(params):
                problems.append(f"{name}: @ccall has {len(jargs)} arguments, the header {len(params)}")
                continue
            if jret not in julia_types_for(ret):
                problems.append(f"{name}: return type {jret} does not match C {ret!r} "
                                f"(expected one of {sorted(julia_types_for(ret))})")
            for k, (jt, ct) in enumerate(zip(jargs, params)):
                ok = julia_types_for(ct)
                if jt not in ok:
                    problems.append(f"{name}: argument {k + 1} is {jt}, C type {ct!r} needs one of {sorted(ok)}")
    for name in j:
        if name not in h:
            problems.append(f"{name}: @ccall of a function the header does not declare")
    return problems


def main(argv=None) -> int:
    problems = check(HEADER.read_text(), JULIA.read_text())
    problems += check_constants(HEADER.read_text(), JULIA.read_text())
    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    n = len(parse_header(HEADER.read_text()))
    k = len(header_constants(HEADER.read_text()))
    print(f"ALCM.jl wraps all {n} functions of alcm.h with matching argument counts and types, "
          f"and copies all {k} integer constants with the header's values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
