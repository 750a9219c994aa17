"""The autograd engine against PyTorch's semantics."""
import gc
import time
import tracemalloc
import weakref

import numpy as np
import pytest
import torch

import flambeau
from helpers import check

LIBS = [flambeau, torch]


@pytest.mark.parametrize("lib", LIBS)
def test_requires_grad_propagation_and_leaves(lib):
    a = lib.ones(3, requires_grad=True)
    b = lib.ones(3)
    c = a * b
    d = b * 2
    assert a.is_leaf and b.is_leaf and not c.is_leaf and d.is_leaf
    assert c.requires_grad and not d.requires_grad
    assert a.grad_fn is None and c.grad_fn is not None and d.grad_fn is None
    assert type(c.grad_fn).__name__ == "MulBackward0" or c.grad_fn.name() == "MulBackward0"
    with pytest.raises(RuntimeError):
        lib.ones(2, dtype=lib.int64).requires_grad_()
    with pytest.raises(RuntimeError):
        c.requires_grad_(False)
    c.requires_grad_(True)  # no-op on a non-leaf that requires grad
    assert b.requires_grad_() is b and b.requires_grad


def test_grad_fn_next_functions_match_torch():
    def graph(lib):
        a = lib.ones(2, requires_grad=True)
        b = lib.ones(2, requires_grad=True)
        return a, b, (a * b + a).exp()
    _, _, lt = graph(torch)
    a, b, lf = graph(flambeau)
    assert lf.grad_fn.name() == lt.grad_fn.name() == "ExpBackward0"
    add_f, add_t = lf.grad_fn.next_functions[0][0], lt.grad_fn.next_functions[0][0]
    assert add_f.name() == add_t.name() == "AddBackward0"
    assert len(add_f.next_functions) == len(add_t.next_functions) == 2
    mul_f = add_f.next_functions[0][0]
    assert mul_f.name() == "MulBackward0"
    # leaves appear as AccumulateGrad nodes whose .variable is the leaf
    leaf_edge = add_f.next_functions[1][0]
    assert type(leaf_edge).__name__ == "AccumulateGrad" and leaf_edge.variable is a
    assert mul_f.next_functions[1][0].variable is b


@pytest.mark.parametrize("lib", LIBS)
def test_grad_accumulates_across_backward_calls(lib):
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5., 7., 9.])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3., 3., 3.])
    x.grad.zero_()
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1., 1., 1.])


@pytest.mark.parametrize("lib", LIBS)
def test_backward_gradient_argument(lib):
    x = lib.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    y.backward(gradient=lib.tensor([[1., 0.], [2., 1.]]))
    np.testing.assert_allclose(x.grad.numpy(), [[2., 0.], [12., 8.]])
    with pytest.raises(RuntimeError):
        (x * 2).backward(lib.ones(3))
    z = (x * 2).sum()
    z.backward(lib.tensor(2.))
    np.testing.assert_allclose(x.grad.numpy(), [[6., 4.], [16., 12.]])


@pytest.mark.parametrize("lib", LIBS)
def test_retain_graph_and_freed_graph_error(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.exp([1., 2.]) * (1 + np.array([1., 2.]))), rtol=1e-6)
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    z = (x * x).sum()
    lib.autograd.grad(z, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        z.backward()


@pytest.mark.parametrize("lib", LIBS)
def test_backward_errors(lib):
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        lib.ones(2).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        lib.autograd.grad(lib.ones(2, requires_grad=True).sum(), lib.ones(2))


@pytest.mark.parametrize("lib", LIBS)
def test_retain_grad(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * 3
    y.retain_grad()
    z = y * y
    assert y.retains_grad and not z.retains_grad
    z.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [6., 12.])
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert z.grad is None
    x.retain_grad()  # no-op on a leaf
    with pytest.raises(RuntimeError):
        lib.ones(2).retain_grad()


@pytest.mark.parametrize("lib", LIBS)
def test_hooks(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    seen = []
    h1 = x.register_hook(lambda g: seen.append(("leaf", g.tolist())))
    h2 = x.register_hook(lambda g: g * 10)  # modifies the grad accumulated into x.grad
    y = x * 2
    h3 = y.register_hook(lambda g: g + 1)   # a non-leaf hook changes what flows upstream
    y.register_hook(lambda g: seen.append(("y", g.tolist())))
    (y * y).sum().backward()
    # dy = 2y = [4, 8] -> +1 = [5, 9] -> dx = 2 * [5, 9] = [10, 18] -> *10
    assert seen == [("y", [5., 9.]), ("leaf", [10., 18.])]
    np.testing.assert_allclose(x.grad.numpy(), [100., 180.])
    for h in (h1, h2, h3):
        h.remove()
    x.grad = None
    seen.clear()
    y = x * 2
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [8., 16.])
    assert seen == []
    with pytest.raises(RuntimeError):
        lib.ones(2).register_hook(lambda g: g)


@pytest.mark.parametrize("lib", LIBS)
def test_hook_on_retained_grad_order(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 2)
    y.sum().backward()
    # torch: retain_grad stores the grad after all hooks ran
    np.testing.assert_allclose(y.grad.numpy(), [2., 2.])
    np.testing.assert_allclose(x.grad.numpy(), [4., 4.])


@pytest.mark.parametrize("lib", LIBS)
def test_detach(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert d.data_ptr() == y.data_ptr()
    d[0] = 10.  # shares memory and version counter
    assert y[0].item() == 10.
    assert y._version == d._version if lib is torch else y._version is d._version
    y2 = x * 3
    y2.detach_()
    assert not y2.requires_grad and y2.grad_fn is None and y2.is_leaf
    z = (y * x).sum()
    z.backward()


@pytest.mark.parametrize("lib", LIBS)
def test_data_semantics(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x.exp()
    d = y.data
    assert not d.requires_grad and d.data_ptr() == y.data_ptr()
    d.mul_(0)  # no version sharing: autograd does not notice (PyTorch's documented hazard)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0., 0.])
    x.data = lib.tensor([5., 6.])
    assert x.tolist() == [5., 6.] and x.requires_grad and x.is_leaf
    with lib.no_grad():
        x.data.add_(1)
    assert x.tolist() == [6., 7.]


@pytest.mark.parametrize("lib", LIBS)
def test_grad_modes(lib):
    x = lib.ones(2, requires_grad=True)
    with lib.no_grad():
        assert not lib.is_grad_enabled()
        y = x * 2
        with lib.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad and lib.is_grad_enabled()

    @lib.no_grad()
    def f(t):
        return t * 2

    @lib.enable_grad()
    def g(t):
        return t * 2
    assert not f(x).requires_grad
    with lib.no_grad():
        assert g(x).requires_grad
    with lib.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    lib.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    lib.set_grad_enabled(True)
    assert (x * 2).requires_grad
    with lib.inference_mode():
        assert not (x * 2).requires_grad
    with lib.inference_mode(False):
        assert (x * 2).requires_grad

    @lib.inference_mode()
    def h(t):
        return t * 2
    assert not h(x).requires_grad
    # restored after exceptions too
    with pytest.raises(ValueError):
        with lib.no_grad():
            raise ValueError
    assert lib.is_grad_enabled()


def test_bare_decorators():
    @flambeau.no_grad
    def f(t):
        return t * 2
    assert not f(flambeau.ones(2, requires_grad=True)).requires_grad


@pytest.mark.parametrize("lib", LIBS)
def test_autograd_grad(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    w = lib.tensor([3., 4.], requires_grad=True)
    u = lib.tensor([1., 1.], requires_grad=True)
    y = x * w
    gx, gw = lib.autograd.grad(y.sum(), [x, w], retain_graph=True)
    assert gx.tolist() == [3., 4.] and gw.tolist() == [1., 2.]
    assert x.grad is None and w.grad is None
    (gx2,) = lib.autograd.grad(y, x, grad_outputs=lib.tensor([2., 0.5]), retain_graph=True)
    assert gx2.tolist() == [6., 2.]
    with pytest.raises(RuntimeError, match="allow_unused"):
        lib.autograd.grad(y.sum(), [x, u], retain_graph=True)
    gx3, gu = lib.autograd.grad(y.sum(), [x, u], allow_unused=True, retain_graph=True)
    assert gu is None and gx3.tolist() == [3., 4.]
    # a non-leaf input
    h = x * 2
    out = (h * h).sum()
    (gh,) = lib.autograd.grad(out, h)
    assert gh.tolist() == [4., 8.]
    # several outputs
    a, b = (x * 2).sum(), (x * x).sum()
    (g,) = lib.autograd.grad([a, b], [x])
    assert g.tolist() == [4., 6.]


@pytest.mark.parametrize("lib", LIBS)
def test_backward_inputs(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    w = lib.tensor([3., 4.], requires_grad=True)
    (x * w).sum().backward(inputs=[x])
    assert x.grad.tolist() == [3., 4.] and w.grad is None


def test_diamond_graph():
    def f(lib, x):
        a = x.exp()
        b = a * 2
        c = a.sin()
        return (b * c + a).sum()
    check(f, np.array([0.1, -0.3, 0.7]))

    def g(lib, x):  # the same tensor used twice by one op, and a view used alongside its base
        y = x * x
        return (y + y.flip(0) * y).sum() + x[1] * x.sum()
    check(g, np.array([0.1, -0.3, 0.7]))


def test_long_chain_no_recursion_error():
    x = flambeau.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    t0 = time.perf_counter()
    y.sum().backward()
    elapsed = time.perf_counter() - t0
    assert x.grad.tolist() == [1.0]
    assert elapsed < 3.0, f"backward of a 100 000-op chain took {elapsed:.2f}s"
    del y
    gc.collect()


def test_graph_freed_after_backward():
    x = flambeau.randn(50, requires_grad=True)
    loss = (x.exp() * x).sum()
    node_ref = weakref.ref(loss.grad_fn)
    saved = loss.grad_fn.next_functions[0][0]._saved
    arr_ref = weakref.ref(saved[0]) if saved and isinstance(saved[0], np.ndarray) else None
    loss.backward()
    del loss, saved
    assert node_ref() is None
    if arr_ref is not None:
        assert arr_ref() is None
    # without backward, dropping the output frees the graph too (no reference cycles)
    y = (x.exp() * x).sum()
    ref = weakref.ref(y.grad_fn)
    del y
    assert ref() is None


def test_no_memory_growth_over_training_iterations():
    rng = np.random.default_rng(0)
    w = flambeau.from_numpy(rng.standard_normal((64, 32)).astype(np.float32)).requires_grad_()
    b = flambeau.zeros(32, requires_grad=True)
    xs = flambeau.from_numpy(rng.standard_normal((128, 64)).astype(np.float32))

    def step():
        h = (xs @ w + b).relu()
        loss = (h * h).mean()
        loss.backward()
        with flambeau.no_grad():
            w.sub_(0.01 * w.grad)
            b.sub_(0.01 * b.grad)
        w.grad = None
        b.grad = None
        return weakref.ref(loss.grad_fn)

    for _ in range(5):
        step()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    refs = [step() for _ in range(50)]
    gc.collect()
    cur = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in cur.compare_to(base, "filename"))
    assert all(r() is None for r in refs)
    assert growth < 200_000, f"memory grew by {growth} bytes over 50 iterations"


@pytest.mark.parametrize("lib", LIBS)
def test_non_float_outputs_do_not_require_grad(lib):
    x = lib.tensor([1., -2.], requires_grad=True)
    assert not (x > 0).requires_grad
    assert not x.argmax().requires_grad
    v, i = x.sort()
    assert v.requires_grad and not i.requires_grad


def test_grad_dtype_and_shape_follow_input():
    check(lambda lib, x, y: x * y, np.ones((3, 1), np.float32), np.ones((1, 4), np.float64))
    check(lambda lib, x: (x * 2).sum(0, keepdim=True).expand(3, 2), np.ones((3, 2), np.float32))


@pytest.mark.parametrize("lib", LIBS)
def test_grad_setter_checks(lib):
    x = lib.ones(2, requires_grad=True)
    x.grad = lib.zeros(2)
    with pytest.raises(RuntimeError):
        x.grad = lib.zeros(3)
    del x.grad
    assert x.grad is None


def test_grad_owns_its_memory():
    x = flambeau.ones(3, requires_grad=True)
    y = x.view(3)
    y.sum().backward()
    g = x.grad
    g.add_(1)  # accumulating into .grad must not corrupt anything else
    x.sum().backward()
    assert x.grad.tolist() == [3., 3., 3.]
    up = flambeau.ones(3)
    z = flambeau.ones(3, requires_grad=True)
    z.backward(up)
    up.add_(5)
    assert z.grad.tolist() == [1., 1., 1.]


def test_post_accumulate_grad_hook_matches_torch():
    """The hook sees the accumulated .grad after each backward; an optimizer step inside the
    backward (PyTorch's 'optimizer in backward' recipe) gives the same weights."""
    import torch
    res = []
    for lib in (flambeau, torch):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.clone()))
        (w * 3).sum().backward()
        (w * w).sum().backward()
        h.remove()
        (w * w).sum().backward()
        lin = lib.nn.Linear(3, 1)
        with lib.no_grad():
            lin.weight.fill_(0.5)
            lin.bias.fill_(0.0)
        opts = {p: lib.optim.SGD([p], lr=0.1) for p in lin.parameters()}
        for p in lin.parameters():
            def step(t, o=opts[p]):
                o.step()
                o.zero_grad()
            p.register_post_accumulate_grad_hook(step)
        lin(lib.ones(2, 3)).sum().backward()
        res.append([s.tolist() for s in seen] + [w.grad.tolist(), lin.weight.tolist(), lin.bias.tolist()])
        with pytest.raises(RuntimeError, match="non-leaf"):
            (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in res[0]]),
                               np.concatenate([np.ravel(v) for v in res[1]]), rtol=1e-6)


def test_detect_anomaly_names_the_node_that_made_nan():
    """As PyTorch: a warning with the forward stack of the failing node, then the error."""
    import warnings
    for lib in (flambeau, torch):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with lib.autograd.detect_anomaly():
                assert lib.is_anomaly_enabled()
                y = (x.sqrt() * 0).sum()          # sqrt'(0) = inf, times 0: NaN
                with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan values in its 0th output"):
                    y.backward()
        assert not lib.is_anomaly_enabled()
        messages = [str(m.message) for m in caught]
        assert any("Error detected in SqrtBackward0" in m and "x.sqrt()" in m for m in messages)
        # without anomaly mode the NaN just propagates
        x.grad = None
        (x.sqrt() * 0).sum().backward()
        assert np.isnan(x.grad.numpy()[0])
    with flambeau.autograd.set_detect_anomaly(True, check_nan=False):
        assert flambeau.is_anomaly_enabled() and not flambeau.is_anomaly_check_nan_enabled()
        x = flambeau.tensor([0.0], requires_grad=True)
        (x.sqrt() * 0).sum().backward()       # check_nan=False: no error
    assert not flambeau.is_anomaly_enabled()


def test_saved_tensors_hooks_pack_and_unpack_as_torch():
    """Pack runs when an op saves a tensor, unpack when backward reads it; a pack hook that
    changes the values changes the gradient (PyTorch's tutorial demonstration)."""
    res = []
    for lib in (flambeau, torch):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        calls = []

        def pack(t):
            calls.append("pack")
            return t.detach().clone()

        def unpack(t):
            calls.append("unpack")
            return t
        with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = (x * x).sin().sum()
        assert "pack" in calls and "unpack" not in calls
        y.backward()
        assert calls.count("pack") == calls.count("unpack")
        g1 = x.grad.numpy().copy()
        x.grad = None
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t * 0 + 10, lambda t: t):
            (x * x).sum().backward()
        g2 = x.grad.numpy().copy()
        x.grad = None
        with lib.autograd.graph.save_on_cpu():
            (x.exp() * x).sum().backward()
        res.append((g1, g2, x.grad.numpy()))
        with lib.autograd.graph.disable_saved_tensors_hooks("no hooks here"):
            with pytest.raises(RuntimeError, match="no hooks here"):
                with lib.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                    pass
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_forward_ad_dual_tensors_match_torch():
    """make_dual / unpack_dual: J @ t for one and for several duals, through a module's
    functional_call (PyTorch's forward-mode tutorial), and None for a tensor with no dual."""
    rng = np.random.default_rng(0)
    W, p, t = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    q, s = rng.standard_normal(3), rng.standard_normal(3)
    res = []
    for lib in (flambeau, torch):
        fwAD = lib.autograd.forward_ad
        lin = lib.nn.Linear(4, 3).double()
        with lib.no_grad():
            lin.weight.copy_(lib.from_numpy(W.copy()))
            lin.bias.zero_()
        with fwAD.dual_level():
            x = fwAD.make_dual(lib.from_numpy(p.copy()), lib.from_numpy(t.copy()))
            b = fwAD.make_dual(lib.from_numpy(q.copy()), lib.from_numpy(s.copy()))
            y = lib.tanh(lib.from_numpy(W) @ x) ** 2 + b * x[:3]
            tangent_y = fwAD.unpack_dual(y).tangent
            tangent_x = fwAD.unpack_dual(x).tangent
            assert fwAD.unpack_dual(lib.ones(2)).tangent is None
            params = {"weight": fwAD.make_dual(lin.weight.detach(), lib.ones(3, 4, dtype=lib.float64)),
                      "bias": lin.bias.detach()}
            out = lib.func.functional_call(lin, params, (lib.from_numpy(p.copy()),))
            tangent_out = fwAD.unpack_dual(out).tangent
        res.append((tangent_y, tangent_x, tangent_out))
    for a, b in zip(*res):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
