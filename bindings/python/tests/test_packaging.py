"""The installed package carries its own stripped library and needs no environment variable.

run_tests.sh installs ``bindings/python`` with pip before pytest runs, so the ``alcm`` imported
in a child process here is the installed wheel, not the source tree.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SNIPPET = textwrap.dedent("""
    import numpy as np, alcm, alcm._lib as L
    x = np.load({path!r})
    frame = alcm.compress(x, mode="relative_l2", target=1e-3)
    y = alcm.decompress(frame)
    err = float(np.linalg.norm(x - y) / np.linalg.norm(x))
    assert y.shape == x.shape and y.dtype == np.float32, (y.shape, y.dtype)
    assert err <= 1e-3, err
    print(L.load()._name)
""")


def _run_without_env(code, cwd):
    env = {k: v for k, v in os.environ.items() if k != "ALCM_LIBRARY"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_readme_example_runs_without_env_var(repo, tmp_path):
    # tmp_path as working directory: the source tree's alcm/ cannot shadow the installed one.
    path = repo / "tests" / "data" / "gradients" / "grad_step00100_fc1.weight.npy"
    out = _run_without_env(SNIPPET.format(path=str(path)), tmp_path)
    assert out.returncode == 0, out.stderr
    loaded = Path(out.stdout.strip().splitlines()[-1])
    assert loaded.name.startswith("libalcm") or loaded.name == "alcm.dll"
    # Loaded from inside the installed package, not from the repository's target/.
    assert loaded.parent.name == "alcm" and repo.resolve() not in loaded.resolve().parents, loaded


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("readelf") is None,
                    reason="ELF checks need Linux and readelf")
def test_bundled_library_is_stripped_and_has_a_soname(tmp_path):
    out = _run_without_env("import alcm._lib as L; print(L.load()._name)", tmp_path)
    assert out.returncode == 0, out.stderr
    lib = out.stdout.strip().splitlines()[-1]
    sections = subprocess.run(["readelf", "-S", "-W", lib], capture_output=True, text=True,
                              check=True).stdout
    assert ".debug_info" not in sections and ".symtab" not in sections, "library not stripped"
    dynamic = subprocess.run(["readelf", "-d", "-W", lib], capture_output=True, text=True,
                             check=True).stdout
    assert "Library soname: [libalcm.so]" in dynamic, dynamic
    # The C ABI survives stripping: the dynamic symbol table still exports it.
    dynsym = subprocess.run(["readelf", "--dyn-syms", "-W", lib], capture_output=True, text=True,
                            check=True).stdout
    assert " alcm_encoder_compress" in dynsym


def test_alcm_library_env_var_still_overrides(tmp_path):
    env = dict(os.environ, ALCM_LIBRARY=str(tmp_path / "no-such-libalcm.so"))
    out = subprocess.run([sys.executable, "-c", "import alcm; alcm.version()"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "no-such-libalcm.so: no such file" in out.stderr
