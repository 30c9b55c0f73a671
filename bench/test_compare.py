"""Tests of bench/compare.py: its documented commands parse as before, --synthetic adds the speed
example's tensors in a group of their own, in the issue-12 table and outside the medians over
DIR. The end-to-end run needs target/release/libalcm.so (or $ALCM_LIBRARY) and cargo.

    python3 -m pytest -q bench/test_compare.py
"""
import contextlib
import csv
import io
import os
import shutil
import statistics
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402

ROOT = compare.ROOT
LIB = Path(os.environ.get("ALCM_LIBRARY", ROOT / "target" / "release" / "libalcm.so"))
GRAD, WEIGHT = "synthetic_rank1_gradient_1024x1024.npy", "synthetic_gaussian_weight_1024x1024.npy"


class Arguments(unittest.TestCase):
    def test_documented_commands_parse_as_before(self):
        a = compare.parse_args(["../shared/data", "--cpu-time", "--reps", "3", "--targets", "1e-2",
                                "--min-values", "4096", "--lib", "/x/libalcm.so", "--out", "o"])
        self.assertEqual((a.dir, a.cpu_time, a.reps, a.targets, a.min_values, a.lib, a.out, a.all),
                         ("../shared/data", True, 3, "1e-2", 4096, "/x/libalcm.so", "o", False))
        self.assertFalse(a.synthetic)
        a = compare.parse_args([])
        self.assertEqual((a.dir, a.targets, a.reps, a.min_values),
                         (str(ROOT.parent / "shared" / "data"), "1e-1,1e-2,1e-3", 3, 4096))
        self.assertEqual(a.lib, str(ROOT / "target" / "release" / "libalcm.so"))
        self.assertEqual(a.out, str(ROOT / "bench" / "results"))
        self.assertFalse(a.synthetic or a.all or a.cpu_time)

    def test_synthetic_flag_and_its_directory(self):
        a = compare.parse_args(["--synthetic"])
        self.assertTrue(a.synthetic)
        self.assertEqual(Path(a.synthetic_dir), ROOT / "build" / "synthetic")
        a = compare.parse_args(["DIR", "--synthetic", "--synthetic-dir", "/tmp/s"])
        self.assertEqual((a.dir, a.synthetic_dir), ("DIR", "/tmp/s"))

    def test_groups(self):
        self.assertEqual(compare.group_of("gradient"), "gradients")
        self.assertEqual(compare.group_of("bias_gradient"), "gradients")
        self.assertEqual(compare.group_of("optimizer_state"), "optimizer state")
        self.assertEqual(compare.group_of("weight"), "weights+embeddings")
        for name, kind in compare.SYNTHETIC_FILES.items():
            self.assertEqual(compare.group_of(kind), "synthetic", name)
        self.assertEqual(set(compare.SYNTHETIC_FILES), {GRAD, WEIGHT})


def row(file, group, codec, comp, dec, values):
    return dict(file=file, group=group, codec=codec, target=0.01 if codec != "memcpy" else 0.0,
                values=values, comp_mbs=comp, dec_mbs=dec, rel=0.0, bits=1.0)


def two_data_one_synthetic():
    """Two data tensors (alcm / SZ3 ratios 1 and 3 compress, 2 and 4 decompress) and a
    synthetic one (10 and 20)."""
    big = []
    for f, g, n, ac, ad in (("a.npy", "gradients", 2_000_000, 100, 200),
                            ("b.npy", "weights+embeddings", 5000, 300, 400),
                            (GRAD, "synthetic", 1_048_576, 1000, 2000)):
        big += [row(f, g, "alcm", ac, ad, n), row(f, g, "sz3-nopred", 100, 100, n),
                row(f, g, "memcpy", 10_000, 10_000, n)]
    return big


class Selection(unittest.TestCase):
    def test_medians_over_the_data_leave_synthetic_out(self):
        big = two_data_one_synthetic()
        files = lambda rs: sorted(r["file"] for r in rs)  # noqa: E731
        self.assertEqual(files(compare.select(big, "alcm", 0.01)), ["a.npy", "b.npy"])
        self.assertEqual(files(compare.select(big, "alcm", 0.01, compare.ALL)), ["a.npy", "b.npy", GRAD])
        self.assertEqual(files(compare.select(big, "alcm", 0.01, "synthetic")), [GRAD])
        self.assertEqual(files(compare.select(big, "alcm", 0.01, "gradients")), ["a.npy"])
        self.assertEqual(compare.select(big, "alcm", 0.1, compare.ALL), [])

    def test_synthetic_files_below_dir_are_not_data(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            (d / "syn").mkdir()
            for p in ("grad_x.npy", "w.npy", "other.npy", "syn/" + GRAD, "syn/" + WEIGHT):
                (d / p).write_bytes(b"")
            self.assertEqual([(p.name, k) for p, k in compare.data_inputs(d, {}, False)],
                             [("grad_x.npy", "gradient"), ("other.npy", "weight"), ("w.npy", "weight")])
            kinds = {"w.npy": "optimizer_state", GRAD: "weight"}
            self.assertEqual([(p.name, k) for p, k in compare.data_inputs(d, kinds, False)],
                             [("w.npy", "optimizer_state")])
            self.assertEqual(len(compare.data_inputs(d, kinds, True)), 3)


class SpeedTargets(unittest.TestCase):
    def test_synthetic_rows_listed_but_not_in_the_median(self):
        big = two_data_one_synthetic()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            compare.speed_targets(big, [0.01])
        lines = out.getvalue().splitlines()
        self.assertIn(f"| {GRAD} | 1048576 | 10.00 | 20.00 | 0.100 | 0.200 | 10000 |", lines)
        self.assertIn("| a.npy | 2000000 | 1.00 | 2.00 | 0.010 | 0.020 | 10000 |", lines)
        self.assertFalse(any(line.startswith("| b.npy") for line in lines))  # < 1 M values
        self.assertIn("| median of 2 tensors | | 2.00 | 3.00 | | | |", lines)


@unittest.skipUnless(LIB.is_file() and shutil.which("cargo"), f"needs {LIB} and cargo")
class EndToEnd(unittest.TestCase):
    """tests/data at 1e-1, one repetition: with --synthetic the two tensors are measured in their
    own group and the medians over tests/data are those of the run without it."""

    def run_compare(self, *extra):
        tmp = Path(tempfile.mkdtemp(prefix="alcm-compare-test-"))
        self.addCleanup(shutil.rmtree, tmp)
        argv = [str(ROOT / "tests" / "data"), "--targets", "1e-1", "--reps", "1", "--lib", str(LIB),
                "--out", str(tmp / "out"), "--synthetic-dir", str(tmp / "syn"), *extra]
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            compare.main(argv)
        rows = list(csv.DictReader(open(tmp / "out" / "compare.csv")))
        return out.getvalue().splitlines(), rows, tmp / "syn"

    def test_synthetic_dir_relative_to_the_callers_directory(self):
        tmp = Path(tempfile.mkdtemp(prefix="alcm-compare-test-"))
        self.addCleanup(shutil.rmtree, tmp)
        cwd = os.getcwd()
        os.chdir(tmp)
        self.addCleanup(os.chdir, cwd)
        inputs = compare.write_synthetic("rel")
        self.assertEqual([p for p, _ in inputs], [tmp.resolve() / "rel" / GRAD, tmp.resolve() / "rel" / WEIGHT])
        self.assertTrue(all(p.is_file() for p, _ in inputs))

    def test_with_and_without_synthetic(self):
        plain, plain_rows, syn = self.run_compare()
        self.assertFalse(syn.exists())
        self.assertFalse(any("synthetic" in line for line in plain))
        lines, rows, syn = self.run_compare("--synthetic")
        self.assertTrue((syn / GRAD).is_file() and (syn / WEIGHT).is_file())
        for name in (GRAD, WEIGHT):
            mine = [r for r in rows if r["file"] == name and r["codec"] == "alcm"]
            self.assertEqual(len(mine), 1, name)
            self.assertEqual((mine[0]["group"], mine[0]["values"]), ("synthetic", "1048576"))
            self.assertLessEqual(float(mine[0]["rel"]), 0.1)
        self.assertIn("## synthetic", lines)
        self.assertTrue(any(line.startswith("every tensor meets its target: True") for line in lines))
        # The data's rows are the same tensors as without --synthetic, and the bits column of
        # "all groups" (deterministic) is their median alone.
        data = [r for r in rows if r["group"] != "synthetic"]
        self.assertEqual(sorted((r["file"], r["codec"]) for r in data),
                         sorted((r["file"], r["codec"]) for r in plain_rows))
        bits = statistics.median(float(r["bits"]) for r in data if r["codec"] == "alcm"
                                 and int(r["values"]) >= 4096)
        i = lines.index("## all groups")
        self.assertTrue(lines[i + 3].startswith(f"| 0.1 | alcm | {bits:.3f} |"), lines[i + 3])
        j = plain.index("## all groups")
        self.assertEqual(lines[i + 3].split(" | ")[:4], plain[j + 3].split(" | ")[:4])
        if compare.pysz is not None:
            n = sum(1 for r in data if r["codec"] == "alcm" and int(r["values"]) >= 4096)
            self.assertTrue(any(line.startswith(f"| {GRAD} | 1048576 |") for line in lines))
            self.assertTrue(any(line.startswith(f"| {WEIGHT} | 1048576 |") for line in lines))
            self.assertTrue(any(line.startswith(f"| median of {n} tensors |") for line in lines))
            self.assertTrue(any(line.startswith(f"| median of {n} tensors |") for line in plain))


if __name__ == "__main__":
    unittest.main()
