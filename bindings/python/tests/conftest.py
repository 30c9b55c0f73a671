import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data"
sys.path.insert(0, str(REPO / "bindings" / "julia"))  # check_coverage.py (header parser)


def data_files():
    files = sorted(DATA.glob("gradients/*.npy")) + sorted(DATA.glob("weights/*.npy"))
    assert len(files) >= 30, f"expected the repository's test tensors in {DATA}"
    return files


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def grad():
    return np.load(DATA / "gradients" / "grad_step00100_fc1.weight.npy")
