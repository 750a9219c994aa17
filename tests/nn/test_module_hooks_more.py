"""Backward pre-hooks, state-dict hooks, to_empty and AdaptiveMaxPool3d against torch."""
import warnings

import numpy as np
import pytest
import torch

import flambeau as fl


def _lin(L):
    m = L.nn.Linear(3, 2)
    with L.no_grad():
        m.weight.copy_(L.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]]))
        m.bias.zero_()
    return m


def test_backward_pre_hook_order_and_replacement():
    def run(L):
        m, log = _lin(L), []

        def pre1(mod, gout):
            log.append(("pre1", gout[0].numpy().copy()))
            return (gout[0] * 2,)

        def pre0(mod, gout):
            log.append(("pre0", gout[0].numpy().copy()))

        def full(mod, gin, gout):
            log.append(("full", gin[0].numpy().copy(), gout[0].numpy().copy()))
        m.register_full_backward_hook(full)
        m.register_full_backward_pre_hook(pre1)
        h = m.register_full_backward_pre_hook(pre0, prepend=True)
        x = L.tensor([[1.0, -1.0, 2.0]], requires_grad=True)
        (m(x) * L.tensor([[1.0, 3.0]])).sum().backward()
        h.remove()
        m(x).sum().backward()
        return log, x.grad.numpy(), m.weight.grad.numpy()
    (lf, xf, wf), (lt, xt, wt) = run(fl), run(torch)
    assert [e[0] for e in lf] == [e[0] for e in lt] == ["pre0", "pre1", "full", "pre1", "full"]
    for a, b in zip(lf, lt):
        for u, v in zip(a[1:], b[1:]):
            np.testing.assert_allclose(u, v)
    np.testing.assert_allclose(xf, xt)
    np.testing.assert_allclose(wf, wt)


def test_backward_pre_hook_multi_output_and_no_input_grad():
    class Two:
        def __init__(self, L):
            class M(L.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.w = L.nn.Parameter(L.tensor([1.0, 2.0]))

                def forward(self, x, k):
                    return x * self.w, k, (x * self.w).detach()
            self.m = M()

    def run(L):
        m = Two(L).m
        seen = []
        m.register_full_backward_pre_hook(lambda mod, g: seen.append(tuple(None if t is None else t.numpy().copy()
                                                                           for t in g)))
        m.register_full_backward_hook(lambda mod, gi, go: seen.append(("full", gi)))
        x = L.tensor([3.0, 4.0])
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            a, k, c = m(x, 5)
            (a * 3).sum().backward()
        return seen, m.w.grad.numpy(), len(w)
    (sf, gf, wf), (st, gt, wt) = run(fl), run(torch)
    assert len(sf) == len(st) == 2
    assert sf[0][1] is None and sf[0][2] is None and st[0][1] is None and st[0][2] is None
    np.testing.assert_allclose(sf[0][0], st[0][0])
    assert sf[1][1] == st[1][1] == (None, None)
    np.testing.assert_allclose(gf, gt)
    assert wf == wt == 1


def test_backward_pre_hook_bad_length():
    for L in (fl, torch):
        m = _lin(L)
        m.register_full_backward_pre_hook(lambda mod, g: (g[0], g[0]))
        x = L.ones(1, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="invalid number of grad_output"):
            m(x).sum().backward()


def test_state_dict_hooks():
    def run(L):
        net = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Linear(2, 1))
        log = []
        h1 = net[0].register_state_dict_pre_hook(lambda m, p, kv: log.append(("pre", p, kv)))
        net.register_state_dict_pre_hook(lambda m, p, kv: log.append(("root", p, kv)))

        def post(m, sd, prefix, meta):
            log.append(("post", prefix, sorted(sd)))
            sd[prefix + "extra"] = L.zeros(1)
        net[1].register_state_dict_post_hook(post)
        sd = net.state_dict(keep_vars=True)
        h1.remove()
        net.state_dict()
        return log, list(sd)
    assert run(fl) == run(torch)
    m = fl.nn.Linear(1, 1)
    m.register_state_dict_post_hook(lambda *a: {})
    with pytest.raises(RuntimeError, match="must return None"):
        m.state_dict()


def test_load_state_dict_hooks_affect_strict():
    def run(L):
        net = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Linear(2, 1))
        src = {k: v.clone() for k, v in net.state_dict().items()}
        del src["1.bias"]
        src["junk"] = L.zeros(1)
        log = []
        net[1].register_load_state_dict_pre_hook(
            lambda m, sd, prefix, meta, strict, mk, uk, em: log.append(("pre", prefix, strict, list(mk))))

        def post_child(m, keys):
            log.append(("post1", list(keys.missing_keys), list(keys.unexpected_keys)))

        def post_root(m, keys):
            log.append(("post0", list(keys.missing_keys), list(keys.unexpected_keys)))
            keys.missing_keys.clear()
            keys.unexpected_keys.clear()
        net[1].register_load_state_dict_post_hook(post_child)
        h = net.register_load_state_dict_post_hook(post_root)
        res = net.load_state_dict(src)              # strict, but the hook cleared the errors
        h.remove()
        with pytest.raises(RuntimeError, match="Missing key"):
            net.load_state_dict(src)
        net.register_load_state_dict_post_hook(lambda m, k: k.unexpected_keys.append("added"))
        with pytest.raises(RuntimeError, match='Unexpected key.*"added"'):
            net.load_state_dict(net.state_dict())
        return log, repr(res)
    assert run(fl) == run(torch)
    m = fl.nn.Linear(1, 1)
    m.register_load_state_dict_post_hook(lambda mod, k: k)
    with pytest.raises(AssertionError):
        m.load_state_dict(m.state_dict())


def test_to_empty():
    for L in (fl, torch):
        net = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4))
        w = net[0].weight
        net[0].weight.sum().backward()
        assert net.to_empty(device="cpu") is net
        assert net[0].weight is w and w.requires_grad and w.shape == (4, 3)
        assert net[1].running_mean.shape == (4,) and net[1].num_batches_tracked.dtype == L.int64
        assert w.grad is not None and w.grad.shape == (4, 3)
        net.double().to_empty(device=L.device("cpu"), recurse=False)
        assert net[0].weight.dtype == L.float64
    with pytest.raises(TypeError):
        fl.nn.Linear(1, 1).to_empty("cpu")
    with pytest.raises(RuntimeError):
        fl.nn.Linear(1, 1).to_empty(device="cuda")


@pytest.mark.parametrize("shape,out", [((2, 3, 5, 6, 7), (2, 3, 4)), ((3, 4, 4, 4), 2), ((1, 2, 7, 5, 9), (3, None, 4)),
                                       ((2, 1, 3, 3, 3), (5, 4, 3)), ((1, 1, 6, 6, 6), (1, 1, 1))])
def test_adaptive_max_pool3d(shape, out):
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=shape), 1).astype(np.float32)      # ties: first maximum wins
    gy = None
    res = {}
    for L in (fl, torch):
        t = L.tensor(x, requires_grad=True)
        y, idx = L.nn.functional.adaptive_max_pool3d(t, out, return_indices=True)
        if gy is None:
            gy = rng.normal(size=tuple(y.shape)).astype(np.float32)
        (y * L.tensor(gy)).sum().backward()
        m = L.nn.AdaptiveMaxPool3d(out, return_indices=False)
        res[L] = (y.detach().numpy(), idx.numpy(), t.grad.numpy(), m(t).detach().numpy(), repr(m),
                  y.grad_fn.name())
    for a, b in zip(res[fl], res[torch]):
        if isinstance(a, str):
            assert a == b
        else:
            np.testing.assert_array_equal(a, b)
    assert res[fl][1].dtype == np.int64


def test_adaptive_max_pool3d_errors():
    for L in (fl, torch):
        with pytest.raises(RuntimeError):
            L.nn.functional.adaptive_max_pool3d(L.zeros(2, 3, 4), 2)
