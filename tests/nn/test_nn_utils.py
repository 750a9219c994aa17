"""nn.utils: clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters vs torch."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn  # noqa: F401


def _params(lib, arrays, grads):
    ps = []
    for a, g in zip(arrays, grads):
        p = lib.nn.Parameter(lib.from_numpy(a.copy()))
        p.grad = lib.from_numpy(g.copy())
        ps.append(p)
    return ps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), (2, 2, 2)]]
    grads = [rng.standard_normal(a.shape).astype(dtype) for a in arrays]
    pf, pt = _params(flambeau, arrays, grads), _params(torch, arrays, grads)
    nf = flambeau.nn.utils.clip_grad_norm_(pf, max_norm, norm_type)
    nt = torch.nn.utils.clip_grad_norm_(pt, max_norm, norm_type)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert nf.dtype == flambeau.float32 if dtype == np.float32 else nf.dtype == flambeau.float64
    np.testing.assert_allclose(nf.numpy(), nt.numpy(), **tol)
    for a, b in zip(pf, pt):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)


def test_clip_grad_norm_edge_cases():
    p = flambeau.nn.Parameter(flambeau.ones(3))
    assert flambeau.nn.utils.clip_grad_norm_([p], 1.0).item() == 0.0  # no grads at all
    p.grad = flambeau.tensor([float("nan"), 1.0, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        flambeau.nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    m = flambeau.nn.Linear(4, 3)
    m(flambeau.ones(2, 4)).sum().backward()
    total = flambeau.nn.utils.clip_grad_norm_(m.parameters(), max_norm=0.1)  # a generator works
    after = np.sqrt(sum((q.grad.numpy() ** 2).sum() for q in m.parameters()))
    assert total.item() > 0.1 and abs(after - 0.1) < 1e-5


def test_clip_grad_value():
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((4, 3)).astype(np.float32)]
    grads = [rng.standard_normal((4, 3)).astype(np.float32) * 3]
    pf, pt = _params(flambeau, arrays, grads), _params(torch, arrays, grads)
    flambeau.nn.utils.clip_grad_value_(pf, 0.7)
    torch.nn.utils.clip_grad_value_(pt, 0.7)
    np.testing.assert_array_equal(pf[0].grad.numpy(), pt[0].grad.numpy())


def test_parameters_vector_round_trip():
    m = flambeau.nn.Sequential(flambeau.nn.Linear(3, 2), flambeau.nn.Linear(2, 1))
    vec = flambeau.nn.utils.parameters_to_vector(m.parameters())
    assert vec.shape == (3 * 2 + 2 + 2 + 1,)
    expected = np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])
    np.testing.assert_array_equal(vec.detach().numpy(), expected)
    vec.sum().backward()  # differentiable
    assert all((p.grad.numpy() == 1).all() for p in m.parameters())
    new = flambeau.arange(11, dtype=flambeau.float32)
    flambeau.nn.utils.vector_to_parameters(new, m.parameters())
    np.testing.assert_array_equal(m[0].weight.detach().numpy(), np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(m[1].bias.detach().numpy(), [10.0])
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        flambeau.nn.utils.vector_to_parameters([1.0], m.parameters())
