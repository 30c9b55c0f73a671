"""Builds libalcm with cargo and bundles it, stripped, inside the package (``alcm/libalcm.so``).

The Rust crate is the repository root, two levels up; ``pip install ./bindings/python`` and
``pip wheel ./bindings/python`` run this from a clone (pip builds local directories in place).
The wheel is tagged ``py3-none-<platform>``: it holds a native library but no Python
extension module, so any Python 3 on that platform can load it through ctypes.

Environment: ``CARGO`` (the cargo to run, default ``cargo``), ``CARGO_TARGET_DIR`` (cargo's
own; default ``<repo>/target``), ``ALCM_WHEEL_NO_STRIP=1`` (keep debug info).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

try:  # setuptools >= 70.1 ships bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - older setuptools with the `wheel` package
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIBRARY = {"darwin": "libalcm.dylib", "win32": "alcm.dll"}.get(sys.platform, "libalcm.so")


def _cargo_build() -> Path:
    manifest = REPO / "Cargo.toml"
    if not manifest.is_file():
        raise SystemExit(
            f"alcm: {manifest} not found. The Python package builds the Rust library of the "
            "repository it sits in: install it from a clone (pip install ./bindings/python).")
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        raise SystemExit(f"alcm: `{cargo}` not found; install Rust (https://rustup.rs) first")
    cmd = [cargo, "build", "--release", "--lib", "--locked", "--manifest-path", str(manifest)]
    print("alcm: " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    built = target / "release" / LIBRARY
    if not built.is_file():
        raise SystemExit(f"alcm: cargo finished but {built} is missing")
    return built


def _strip(path: Path) -> None:
    if os.environ.get("ALCM_WHEEL_NO_STRIP") == "1" or sys.platform == "win32":
        return
    strip = shutil.which("strip")
    if strip is None:
        print("alcm: WARNING: `strip` not found; the bundled library keeps its debug info",
              flush=True)
        return
    # Debug info and local symbols go; the dynamic symbol table (the C ABI) stays.
    args = [strip, "-x", "-S"] if sys.platform == "darwin" else [strip, "--strip-unneeded"]
    subprocess.run(args + [str(path)], check=True)


class BuildPyWithLibrary(build_py):
    """The usual pure-Python build, plus the cargo-built library copied next to the modules."""

    def run(self):
        super().run()
        built = _cargo_build()
        dest = Path(self.build_lib) / "alcm" / LIBRARY
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, dest)
        os.chmod(dest, 0o755)
        _strip(dest)


class BinaryDistribution(Distribution):
    """Not a pure package: the wheel carries a platform-specific shared library."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel},
)
