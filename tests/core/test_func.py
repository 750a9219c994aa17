"""``flambeau.func`` against ``torch.func``: per-sample gradients (vmap of grad of a
functional_call), Hessians, Jacobians with several argnums and pytree inputs, jvp/vjp, model
ensembles with stack_module_state, vmap's in_dims/out_dims and randomness modes. float64,
rtol 1e-10, atol 1e-12."""
import numpy as np
import pytest
import torch
import torch.func as tf

import flambeau
import flambeau.func as ff

TOL = dict(rtol=1e-10, atol=1e-12)


def _np(t):
    return t.detach().numpy()


def _close(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _close(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y)
    else:
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(_np(a), _np(b), **TOL)


def _mlp(lib):
    lib.manual_seed(0)
    m = lib.nn.Sequential(lib.nn.Linear(5, 7), lib.nn.Tanh(), lib.nn.Linear(7, 3)).double()
    return m


def _same_weights(fm, tm):
    for (kf, pf), (kt, pt) in zip(fm.named_parameters(), tm.named_parameters()):
        assert kf == kt
        pf.data = flambeau.from_numpy(pt.detach().numpy().copy())


@pytest.fixture
def models():
    fm, tm = _mlp(flambeau), _mlp(torch)
    _same_weights(fm, tm)
    return fm, tm


def _data(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


def test_per_sample_gradients_with_vmap_grad_functional_call(models):
    xs, ys = _data()
    res = []
    for lib, fn, m in ((flambeau, ff, models[0]), (torch, tf, models[1])):
        params = {k: v.detach() for k, v in m.named_parameters()}

        def loss(p, x, y):
            out = fn.functional_call(m, p, (x.unsqueeze(0),))
            return lib.nn.functional.cross_entropy(out, y.unsqueeze(0))
        g = fn.vmap(fn.grad(loss), in_dims=(None, 0, 0))(params, lib.from_numpy(xs.copy()), lib.from_numpy(ys.copy()))
        res.append(g)
    _close(res[0], res[1])
    # each per-sample gradient is that sample's own gradient
    m = models[0]
    x0 = flambeau.from_numpy(xs[:1].copy())
    m.zero_grad()
    flambeau.nn.functional.cross_entropy(m(x0), flambeau.from_numpy(ys[:1].copy())).backward()
    np.testing.assert_allclose(_np(res[0]["0.weight"][0]), _np(m[0].weight.grad), **TOL)


def test_functional_call_leaves_the_module_alone_and_updates_given_buffers():
    for lib, fn in ((flambeau, ff), (torch, tf)):
        bn = lib.nn.BatchNorm1d(3).double()
        state = {"running_mean": lib.zeros(3, dtype=lib.float64), "running_var": lib.ones(3, dtype=lib.float64),
                 "num_batches_tracked": lib.tensor(0)}
        x = lib.from_numpy(np.arange(12.0).reshape(4, 3))
        fn.functional_call(bn, state, (x,))
        assert float(bn.running_mean.abs().sum()) == 0.0                       # the module's own: untouched
        np.testing.assert_allclose(_np(state["running_mean"]), [0.45, 0.55, 0.65])   # the given buffer: updated
    with pytest.raises(RuntimeError, match="Missing key"):
        ff.functional_call(flambeau.nn.Linear(2, 2), {"weight": flambeau.zeros(2, 2)}, (flambeau.zeros(1, 2),),
                           strict=True)


def test_grad_argnums_has_aux_and_nesting():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(4), rng.standard_normal(4)
    res = []
    for lib, fn in ((flambeau, ff), (torch, tf)):
        def f(x, y):
            v = (lib.sin(x) * y ** 2).sum() + (x * x * x).sum()
            return v, {"aux": x * 2}
        A, B = lib.from_numpy(a.copy()), lib.from_numpy(b.copy())
        (gx, gy), aux = fn.grad(f, argnums=(0, 1), has_aux=True)(A, B)
        g2 = fn.grad(lambda x: fn.grad(lambda z: (lib.sin(z) * z).sum())(x).sum())(A)
        gv = fn.grad_and_value(lambda x: (x ** 4).sum())(A)
        assert not gx.requires_grad
        res.append((gx, gy, aux["aux"], g2, gv[0], gv[1]))
    _close(res[0], res[1])


def test_jacrev_jacfwd_hessian_with_pytrees():
    rng = np.random.default_rng(2)
    a, w = rng.standard_normal(3), rng.standard_normal((2, 3))
    res = []
    for lib, fn in ((flambeau, ff), (torch, tf)):
        A, W = lib.from_numpy(a.copy()), lib.from_numpy(w.copy())

        def f(x, p):
            return lib.tanh(p["w"] @ x) * 3, (x ** 2).sum()
        j = fn.jacrev(f, argnums=(0, 1))(A, {"w": W})
        jf = fn.jacfwd(lambda x: lib.exp(x) * x.sum())(A)
        h = fn.hessian(lambda x: (lib.sin(x) * x.prod()).sum())(A)
        res.append((j, jf, h))
    _close(res[0], res[1])


def test_vjp_and_jvp():
    rng = np.random.default_rng(3)
    a, v, u = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(2)
    M = rng.standard_normal((2, 4))
    res = []
    for lib, fn in ((flambeau, ff), (torch, tf)):
        A, V, U = lib.from_numpy(a.copy()), lib.from_numpy(v.copy()), lib.from_numpy(u.copy())

        def f(x):
            return lib.sigmoid(lib.from_numpy(M) @ x) ** 2
        out, vjp_fn = fn.vjp(f, A)
        (g,) = vjp_fn(U)
        (g_again,) = vjp_fn(U * 2)
        o2, jv = fn.jvp(f, (A,), (V,))
        res.append((out, g, g_again, o2, jv))
    _close(res[0], res[1])


def test_ensemble_with_stack_module_state_and_vmap():
    xs, _ = _data(4, 8)
    res = []
    for lib, fn in ((flambeau, ff), (torch, tf)):
        ms = []
        for s in range(3):
            lib.manual_seed(0)
            m = lib.nn.Linear(5, 2).double()
            with lib.no_grad():
                m.weight.copy_(lib.from_numpy(np.full((2, 5), 0.1 * (s + 1))))
                m.bias.copy_(lib.from_numpy(np.array([s, -s], dtype=np.float64)))
            ms.append(m)
        params, buffers = fn.stack_module_state(ms)
        base = ms[0]

        def run(p, b, x):
            return fn.functional_call(base, (p, b), (x,))
        out = fn.vmap(run, in_dims=(0, 0, None))(params, buffers, lib.from_numpy(xs.copy()))
        res.append(out)
    _close(res[0], res[1])
    assert tuple(res[0].shape) == (3, 8, 2)


def test_vmap_dims_and_randomness():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 3))
    res = []
    for lib, fn in ((flambeau, ff), (torch, tf)):
        A, B = lib.from_numpy(a.copy()), lib.from_numpy(b.copy())
        r1 = fn.vmap(lambda x, y: (x * y).sum(), in_dims=(0, 1))(A, B)
        r2 = fn.vmap(lambda x: (x, x * 2), out_dims=(0, 1))(A)
        r3 = fn.vmap(fn.vmap(lambda x: x ** 2))(A)
        res.append((r1, r2, r3))
        with pytest.raises(RuntimeError, match="randomness"):
            fn.vmap(lambda x: x + lib.rand(()))(A)
    _close(res[0], res[1])
    same = ff.vmap(lambda x: x + flambeau.rand(()), randomness="same")(flambeau.zeros(4))
    diff = ff.vmap(lambda x: x + flambeau.rand(()), randomness="different")(flambeau.zeros(4))
    assert len(set(same.numpy().tolist())) == 1 and len(set(diff.numpy().tolist())) == 4


def test_the_old_stateless_functional_call_is_the_same_function():
    assert flambeau.nn.utils.stateless.functional_call is ff.functional_call


def _T(lib, v, rg=False):
    return lib.tensor(v, dtype=lib.float64, requires_grad=rg)


def test_closures_tangents_and_no_grad_keep_or_drop_the_graph_as_torch():
    for lib, fn in ((flambeau, ff), (torch, tf)):
        # a tensor read from the closure keeps the gradient differentiable
        assert fn.grad(lambda x: fn.grad(lambda y: (x * y) ** 2)(_T(lib, 2.0)))(_T(lib, 3.0)).item() == 24.0
        w = _T(lib, [1.0, 2.0], True)
        g = fn.grad(lambda x: (w * x * x).sum())(_T(lib, [3.0, 4.0]))
        assert g.requires_grad
        g.sum().backward()
        np.testing.assert_allclose(_np(w.grad), [6.0, 8.0])
        # the gradient of a jvp with respect to its tangent
        h = fn.grad(lambda v: fn.jvp(lambda x: x ** 3, (_T(lib, [1.0, 2.0]),), (v,))[1].sum())(_T(lib, [1.0, 1.0]))
        np.testing.assert_allclose(_np(h), [3.0, 12.0])
        # under no_grad nothing keeps a graph
        x = _T(lib, [1.0, 2.0], True)
        with lib.no_grad():
            g2, v2 = fn.grad_and_value(lambda a: (a ** 2).sum())(x)
        assert not g2.requires_grad and not v2.requires_grad


def test_vmap_structures_zero_size_and_errors():
    X = np.arange(6.0).reshape(2, 3)
    res = []
    for lib, fn in ((flambeau, ff), (torch, tf)):
        A = lib.from_numpy(X.copy())
        r1 = fn.vmap(lambda d: d["a"] * d["b"].sum(), in_dims=({"a": 0, "b": None},))({"a": A, "b": A})
        r2 = fn.vmap(lambda p: p[0] + p[1], in_dims=((0, 1),))((A, A.t().contiguous()))
        r3 = fn.vmap(lambda a: (a * 2, (a + 1, a.sum())), out_dims=(1, (0, 0)))(A)
        r4 = fn.vmap(lambda a, c: (a * 2, c * 3), in_dims=(0, None), out_dims=(0, None))(A, A[0])
        r5 = fn.vmap(lambda a: a * 2)(lib.zeros(0, 3, dtype=lib.float64))
        res.append((r1, r2, r3, r4, r5))
        with pytest.raises(RuntimeError):
            fn.vmap(lambda a, b: b.add_(a.sum()), in_dims=(0, None))(A, lib.zeros(1, dtype=lib.float64))
        with pytest.raises(RuntimeError):
            fn.vjp(lambda a: a * 2, A, has_aux=True)
        with pytest.raises(RuntimeError):
            fn.grad(lambda a, b: (a * b).sum(), argnums=(0, 0))(A, A)
    _close(res[0], res[1])


def test_stack_module_state_keeps_frozen_parameters_frozen():
    for lib, fn in ((flambeau, ff), (torch, tf)):
        ms = [lib.nn.Linear(2, 2) for _ in range(2)]
        for m in ms:
            m.weight.requires_grad_(False)
        params, _ = fn.stack_module_state(ms)
        assert not params["weight"].requires_grad and params["bias"].requires_grad
