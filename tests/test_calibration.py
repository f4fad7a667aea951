"""DDS and SCE-UA on analytic functions: optimum within tolerance, exact budget, seeds."""
import numpy as np
import pytest

from diffland.calibration import calibrate, dds, dds_cells, sceua


def sphere(x):
    return float(np.sum((np.asarray(x) - 0.3) ** 2))


def rosenbrock(x):
    x = np.asarray(x)
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


class Counter:
    def __init__(self, f):
        self.f, self.n = f, 0

    def __call__(self, x):
        self.n += 1
        return self.f(x)


@pytest.mark.parametrize("budget", [1, 7, 500])
@pytest.mark.parametrize("method", ["dds", "sceua"])
def test_budget_respected_exactly(method, budget):
    f = Counter(sphere)
    res = calibrate(f, [-5] * 3, [5] * 3, budget, method=method, seed=1)
    assert f.n == budget == res.n_evals
    assert res.history.shape == (budget,)
    assert np.all(np.diff(res.history) <= 0)  # best-so-far never increases
    assert res.history[-1] == res.f == pytest.approx(sphere(res.x))
    assert np.all(res.x >= -5) and np.all(res.x <= 5)


@pytest.mark.parametrize("method", ["dds", "sceua"])
def test_reproducible_by_seed(method):
    a = calibrate(sphere, [-5] * 4, [5] * 4, 300, method=method, seed=7)
    b = calibrate(sphere, [-5] * 4, [5] * 4, 300, method=method, seed=7)
    c = calibrate(sphere, [-5] * 4, [5] * 4, 300, method=method, seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.history, b.history)
    assert not np.array_equal(a.x, c.x)


def test_dds_finds_sphere_optimum_5d():
    for seed in range(3):
        res = dds(sphere, [-5] * 5, [5] * 5, 2000, seed=seed)
        assert res.f < 5e-3
        np.testing.assert_allclose(res.x, 0.3, atol=0.06)


def test_dds_rosenbrock_2d_improves_far():
    res = dds(rosenbrock, [-2, -2], [2, 2], 3000, seed=0)
    assert res.f < 0.1
    assert res.history[0] > 10 * res.f


def test_sceua_rosenbrock_optimum():
    for d, budget in ((2, 2000), (4, 5000)):
        res = sceua(rosenbrock, [-2] * d, [2] * d, budget, seed=3)
        assert res.f < 1e-6
        np.testing.assert_allclose(res.x, 1.0, atol=1e-3)


def test_sceua_x0_in_population_and_errors():
    f = Counter(sphere)
    res = sceua(f, [-1, -1], [1, 1], 5, x0=[0.3, 0.3])
    assert res.f == 0.0 and f.n == 5
    with pytest.raises(ValueError, match="upper bound"):
        sceua(sphere, [0, 1], [1, 1], 10)
    with pytest.raises(ValueError, match="outside"):
        dds(sphere, [0, 0], [1, 1], 10, x0=[2, 0])
    with pytest.raises(ValueError, match="method"):
        calibrate(sphere, [0], [1], 5, method="ga")


def test_dds_cells_vectorised():
    n, d = 8, 3
    targets = np.linspace(-0.8, 0.8, n)[:, None] * np.ones(d)
    calls = []

    def batch_objective(X):
        calls.append(X.shape)
        return np.sum((X - targets) ** 2, axis=1)

    res = dds_cells(batch_objective, [-1] * d, [1] * d, 1000, n_cells=n, seed=0)
    assert len(calls) == 1000 and all(s == (n, d) for s in calls)
    assert res.x.shape == (n, d) and res.f.shape == (n,) and res.history.shape == (1000, n)
    np.testing.assert_allclose(res.x, targets, atol=0.08)
    # one cell through dds_cells == dds with the same seed (same random stream)
    single = dds(lambda x: float(np.sum((x - 0.2) ** 2)), [-1] * d, [1] * d, 200, seed=5)
    one = dds_cells(lambda X: np.sum((X - 0.2) ** 2, axis=1), [-1] * d, [1] * d, 200, n_cells=1, seed=5)
    np.testing.assert_array_equal(single.x, one.x[0])
    # per-cell bounds and failed runs (NaN) never accepted
    lo = np.stack([np.full(d, -1.0), np.full(d, 0.5)])
    hi = np.stack([np.full(d, 0.0), np.full(d, 1.0)])

    def flaky(X):
        f = np.sum(X**2, axis=1)
        f[X[:, 0] > 0.9] = np.nan
        return f

    res = dds_cells(flaky, lo, hi, 300, n_cells=2, seed=1)
    assert np.all(res.x[0] <= 0) and np.all(res.x[1] >= 0.5) and np.all(res.x[1, 0] <= 0.9)
    assert np.all(np.isfinite(res.f))
