"""bench/train: the synthetic dataset both sides train on (shared by bench.py and torch_side.py).

20,000 x 784 float64 inputs, 10 classes: x = mu[y] + N(0, I), mu ~ N(0, 0.01 I), every value
rounded to 3 decimals so that the JSON text we upload (Python's shortest round-trip repr) is
short and parses back to exactly the same doubles on the server.
"""
import numpy as np

N, D, K = 20000, 784, 10
SEED = 20240613


def dataset():
    rng = np.random.default_rng(SEED)
    y = rng.integers(0, K, size=N)
    mu = 0.1 * rng.standard_normal((K, D))
    x = np.round(mu[y] + rng.standard_normal((N, D)), 3)
    return x, y.astype(np.int64)
