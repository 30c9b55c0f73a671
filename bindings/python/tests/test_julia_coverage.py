"""Runs bindings/julia/check_coverage.py: ALCM.jl must @ccall every function of alcm.h with
matching argument counts and C types (no Julia toolchain on the build machines)."""
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
