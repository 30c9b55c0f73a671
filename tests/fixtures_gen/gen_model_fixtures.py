#!/usr/bin/env python3
"""Writes a model file the way the original Python prototype did, plus numpy-computed
expected outputs, for tests/predictor.rs. Run from the crate root:

    python3 tests/fixtures_gen/gen_model_fixtures.py

The prototype saved with np.savez(path, W1=..., b1=..., W2=..., b2=..., hidden_size=64,
min_bits=0.2, max_bits=0.9) and ran the forward pass on the raw feature vector
[mean, var, std, skew, kurtosis, sparsity] (population var, std = sqrt(var) or 1e-8,
skew = mean(z^3), kurtosis = mean(z^4), sparsity = mean(|x| < 1e-6)).
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "fixtures")
os.makedirs(OUT, exist_ok=True)

H, MIN_BITS, MAX_BITS = 64, 0.2, 0.9
rng = np.random.default_rng(20240611)
lim1 = np.sqrt(6.0 / (6 + H))
lim2 = np.sqrt(6.0 / (H + 1))
W1 = rng.uniform(-lim1, lim1, (6, H))
b1 = rng.uniform(-0.1, 0.1, H)  # non-zero so that the biases are exercised
W2 = rng.uniform(-lim2, lim2, (H, 1))
b2 = np.array([0.05])
np.savez(os.path.join(OUT, "proto_model.npz"), W1=W1, b1=b1, W2=W2, b2=b2,
         hidden_size=H, min_bits=MIN_BITS, max_bits=MAX_BITS)


def forward(x):
    h = np.maximum(0.0, x @ W1 + b1)
    s = 1.0 / (1.0 + np.exp(-(h @ W2 + b2)))
    return MIN_BITS + (MAX_BITS - MIN_BITS) * s


def stats(x):
    x = x.astype(np.float64).ravel()
    mean = x.mean()
    var = x.var()
    std = np.sqrt(var) if var > 0 else 1e-8
    z = (x - mean) / std
    return np.array([mean, var, std, np.mean(z ** 3), np.mean(z ** 4), np.mean(np.abs(x) < 1e-6)])


features = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.1, 0.5, 0.7071, -0.3, 3.0, 0.1],
    [-2.0, 4.0, 2.0, 1.5, 8.0, 0.9],
    [1e-4, 1e-8, 1e-4, 0.2, 12.0, 0.0],
    [3.0, 10.0, 3.1623, -4.0, 30.0, 0.5],
])
expected = np.array([forward(f)[0] for f in features])
grad = np.load(os.path.join(OUT, "grad_step00001_fc3.bias.npy"))
gf = stats(grad)
np.savez(os.path.join(OUT, "proto_model_cases.npz"), features=features, expected=expected,
         grad_features=gf, grad_expected=np.array(forward(gf)[0]))
print("expected", expected, "grad", forward(gf))
