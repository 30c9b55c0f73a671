"""Runs bindings/julia/check_coverage.py: ALCM.jl must @ccall every function of alcm.h with
matching argument counts and C types, and copy every integer constant of alcm.h with its value
(no Julia toolchain on the build machines)."""
import check_coverage


def test_julia_wraps_every_header_function(repo):
    problems = check_coverage.check((repo / "include" / "alcm.h").read_text(),
                                    (repo / "bindings/julia/ALCM.jl/src/ALCM.jl").read_text())
    assert problems == []


def test_checker_detects_mismatches(repo):
    h = (repo / "include" / "alcm.h").read_text()
    jl = (repo / "bindings/julia/ALCM.jl/src/ALCM.jl").read_text()
    # a missing wrapper
    assert any("alcm_caq: no @ccall" in p for p in check_coverage.check(h, jl.replace("alcm_caq(", "alcm_caqx(")))
    # a wrong C type and a wrong argument count
    bad = jl.replace("alcm_compress_bound(n::Csize_t)", "alcm_compress_bound(n::Cint)")
    assert any("alcm_compress_bound: argument 1" in p for p in check_coverage.check(h, bad))
    bad = jl.replace("alcm_compress_bound(n::Csize_t)", "alcm_compress_bound(n::Csize_t, m::Csize_t)")
    assert any("2 arguments" in p for p in check_coverage.check(h, bad))


def test_julia_constants_match_the_header(repo):
    h = (repo / "include" / "alcm.h").read_text()
    jl = (repo / "bindings/julia/ALCM.jl/src/ALCM.jl").read_text()
    assert check_coverage.check_constants(h, jl) == []
    consts = check_coverage.parse_julia_constants(jl)
    assert consts["ALCM_BACKEND_RANS"] == 2 and consts["ALCM_BACKEND_RANS_MODEL"] == 3


def test_constant_checker_detects_drift(repo):
    h = (repo / "include" / "alcm.h").read_text()
    jl = (repo / "bindings/julia/ALCM.jl/src/ALCM.jl").read_text()
    # a wrong value
    bad = jl.replace("const ALCM_MAX_THREADS = 64", "const ALCM_MAX_THREADS = 32")
    assert any("ALCM_MAX_THREADS: ALCM.jl has 32, the header 64" in p
               for p in check_coverage.check_constants(h, bad))
    # a missing constant (the header gained one the binding does not know)
    bad = jl.replace("const ALCM_BACKEND_RANS_MODEL = UInt32(3)", "")
    assert any("ALCM_BACKEND_RANS_MODEL: no const" in p for p in check_coverage.check_constants(h, bad))
    # a constant the header does not define
    bad = jl.replace("const ALCM_DTYPE_F32 = UInt32(1)",
                     "const ALCM_DTYPE_F32 = UInt32(1)\nconst ALCM_BACKEND_ZSTD = UInt32(9)")
    assert any("ALCM_BACKEND_ZSTD: const in ALCM.jl but not" in p
               for p in check_coverage.check_constants(h, bad))
