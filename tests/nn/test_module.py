"""Module semantics against torch.nn.Module: registration, iteration order, state_dict, repr,
hooks, modes, zero_grad, dtype conversion, deepcopy; Parameter; containers."""
import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn  # noqa: F401


def make_net(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.act = nn.ReLU()
            self.register_buffer("running", lib.zeros(3))
            self.register_buffer("scratch", lib.ones(2), persistent=False)

        def forward(self, x):
            return self.act(self.fc(x)) + self.running

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(lib.ones(1))
            self.block = Block()
            self.layers = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Dropout(0.1), nn.Linear(5, 2, bias=False))
            self.heads = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 1)])
            self.extra = nn.ModuleDict({"b": nn.Identity(), "a": nn.Flatten()})
            self.shared = self.layers[0]  # the same module twice: listed once

        def forward(self, x):
            return self.heads[2](self.layers(self.block(x)) * self.scale)

    return Net()


def copy_weights(src_fl, dst_th):
    """Give the torch model the flambeau model's values (same state_dict keys)."""
    sd = {k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in src_fl.state_dict().items()}
    dst_th.load_state_dict(sd)


def test_parameter_basics():
    p = flambeau.nn.Parameter(flambeau.tensor([1.0, 2.0]))
    assert isinstance(p, flambeau.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0]))).replace("torch", "flambeau")
    q = copy.deepcopy(p)
    assert type(q) is flambeau.nn.Parameter and q.requires_grad and q.data_ptr() != p.data_ptr()
    assert not flambeau.nn.Parameter(flambeau.ones(2), requires_grad=False).requires_grad
    t = flambeau.ones(3)
    assert flambeau.nn.Parameter(t).data_ptr() == t.data_ptr()  # shares memory
    assert type(p * 2) is flambeau.Tensor
    assert flambeau.nn.Parameter().shape == (0,)


def test_names_order_and_sharing_match_torch():
    fl, th = make_net(flambeau), make_net(torch)
    assert [n for n, _ in fl.named_parameters()] == [n for n, _ in th.named_parameters()]
    assert [n for n, _ in fl.named_buffers()] == [n for n, _ in th.named_buffers()]
    assert [n for n, _ in fl.named_modules()] == [n for n, _ in th.named_modules()]
    assert [n for n, _ in fl.named_children()] == [n for n, _ in th.named_children()]
    assert list(fl.state_dict()) == list(th.state_dict())
    assert len(list(fl.parameters())) == len(list(th.parameters()))
    assert [n for n, _ in fl.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in th.named_parameters(remove_duplicate=False)]
    assert [n for n, _ in fl.named_parameters(prefix="m", recurse=False)] == ["m.scale"]
    assert fl.get_submodule("layers.0") is fl.layers[0]
    assert fl.get_parameter("block.fc.bias") is fl.block.fc.bias
    assert fl.get_buffer("block.running") is fl.block.running


def test_forward_and_backward_match_torch():
    fl, th = make_net(flambeau), make_net(torch)
    copy_weights(fl, th)
    fl.eval(), th.eval()
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    of, ot = fl(flambeau.from_numpy(x)), th(torch.from_numpy(x))
    np.testing.assert_allclose(of.detach().numpy(), ot.detach().numpy(), rtol=1e-5, atol=1e-6)
    of.sum().backward()
    ot.sum().backward()
    for (n, pf), (_, pt) in zip(fl.named_parameters(), th.named_parameters()):
        if pt.grad is None:
            assert pf.grad is None, n
        else:
            np.testing.assert_allclose(pf.grad.numpy(), pt.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def test_repr_identical_to_torch():
    fl, th = make_net(flambeau), make_net(torch)
    assert repr(fl) == repr(th)
    seq = lambda lib: lib.nn.Sequential(lib.nn.Linear(784, 128), lib.nn.ReLU(), lib.nn.Dropout(0.2),
                                        lib.nn.Linear(128, 10))
    assert repr(seq(flambeau)) == repr(seq(torch))
    layers = lambda nn: nn.Sequential(  # noqa: E731
        nn.Embedding(10, 3, padding_idx=0), nn.LayerNorm(3), nn.GELU(approximate="tanh"), nn.LeakyReLU(0.2, True),
        nn.ELU(), nn.Softplus(), nn.Hardtanh(-2, 2), nn.ReLU6(), nn.PReLU(3), nn.Softmax(dim=1),
        nn.LogSoftmax(1), nn.Unflatten(1, (1, 3)), nn.Flatten(0), nn.Dropout2d(), nn.Threshold(0.1, 0.0),
        nn.Hardshrink(), nn.SiLU(inplace=True), nn.CrossEntropyLoss(), nn.Bilinear(2, 3, 4),
        nn.ParameterList([nn.Parameter(lib_ones(nn, 2, 3))]))
    lib_ones = lambda nn, *s: (flambeau if nn is flambeau.nn else torch).ones(*s)  # noqa: E731
    assert repr(layers(flambeau.nn)) == repr(layers(torch.nn)).replace("torch.", "flambeau.")
    ml = lambda nn: nn.ModuleList([nn.Linear(2, 2)] * 3 + [nn.ReLU()])  # noqa: E731
    assert repr(ml(flambeau.nn)) == repr(ml(torch.nn))


def test_getattr_setattr_delattr():
    m = flambeau.nn.Linear(2, 3)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        m.nope
    with pytest.raises(TypeError, match="cannot assign 'flambeau.FloatTensor' as parameter 'weight'"):
        m.weight = flambeau.ones(3, 2)
    m.weight = flambeau.nn.Parameter(flambeau.ones(3, 2))
    assert m.weight.sum().item() == 6
    m.bias = None
    assert m.bias is None and "bias" in m._parameters and list(m.state_dict()) == ["weight"]
    m.child = flambeau.nn.ReLU()
    assert "child" in m._modules and "child" in dir(m)
    del m.child
    assert "child" not in m._modules
    m.register_buffer("buf", flambeau.zeros(2))
    m.buf = flambeau.ones(2)  # assigning a tensor to a buffer name keeps it a buffer
    assert m._buffers["buf"].sum().item() == 2
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.register_buffer("weight", flambeau.zeros(1))
    with pytest.raises(TypeError, match="buffer"):
        m.register_buffer("b2", 3)
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("p", _non_leaf_parameter())

    class Early(flambeau.nn.Module):
        def __init__(self):
            self.fc = flambeau.nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="cannot assign module before Module.__init__"):
        Early()


def _non_leaf_parameter():
    p = flambeau.nn.Parameter(flambeau.ones(2))
    q = flambeau.nn.Parameter.__new__(flambeau.nn.Parameter)
    flambeau.nn.Parameter.__init__(q, flambeau.ones(2))
    q.grad_fn = (p * 2).grad_fn  # a Parameter carrying history
    return q


def test_state_dict_round_trip_and_strict_errors():
    fl = make_net(flambeau)
    sd = fl.state_dict()
    assert all(not v.requires_grad for v in sd.values())
    assert sd["block.fc.weight"].data_ptr() == fl.block.fc.weight.data_ptr()  # detached alias
    assert fl.state_dict(keep_vars=True)["scale"] is fl.scale
    other = make_net(flambeau)
    res = other.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == [] and repr(res) == "<All keys matched successfully>"
    np.testing.assert_array_equal(other.block.fc.weight.detach().numpy(), fl.block.fc.weight.detach().numpy())

    sd2 = OrderedDict(sd)
    del sd2["block.fc.bias"], sd2["heads.0.weight"]
    sd2["foo.bar"] = flambeau.zeros(1)
    msg_fl = _error(lambda: other.load_state_dict(sd2))
    th = make_net(torch)
    sd2_t = OrderedDict((k, torch.from_numpy(np.array(v.numpy()))) for k, v in sd2.items())
    msg_th = _error(lambda: th.load_state_dict(sd2_t))
    assert msg_fl == msg_th
    res = other.load_state_dict(sd2, strict=False)
    res_t = th.load_state_dict(sd2_t, strict=False)
    assert res_t.missing_keys == ["block.fc.bias", "heads.0.weight"] and res_t.unexpected_keys == ["foo.bar"]
    assert (res.missing_keys, res.unexpected_keys) == (res_t.missing_keys, res_t.unexpected_keys)

    sd3 = OrderedDict(sd)
    sd3["block.fc.weight"] = flambeau.zeros(3, 5)
    msg = _error(lambda: other.load_state_dict(sd3))
    assert msg.startswith("Error(s) in loading state_dict for Net:\n\tsize mismatch for block.fc.weight: "
                          "copying a param with shape") and "[3, 5]" in msg and "[3, 4]" in msg


def _error(fn):
    with pytest.raises(RuntimeError) as e:
        fn()
    return str(e.value)


def test_strict_false_reports_missing_and_unexpected():
    m = flambeau.nn.Linear(2, 2)
    res = m.load_state_dict({"weight": flambeau.zeros(2, 2), "extra": flambeau.zeros(1)}, strict=False)
    assert (res.missing_keys, res.unexpected_keys) == (["bias"], ["extra"])


def test_hooks():
    m = flambeau.nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre") or (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append("post") or out + 1)
    out = m(flambeau.ones(1, 3))
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(out.detach().numpy(), m.bias.detach().numpy()[None] + 1, rtol=1e-6)
    h1.remove(), h2.remove()
    m(flambeau.ones(1, 3))
    assert calls == ["pre", "post"]
    with m.register_forward_hook(lambda mod, a, kw, o: calls.append(sorted(kw)), with_kwargs=True):
        m(input=flambeau.ones(1, 3))
    assert calls[-1] == ["input"]


def test_full_backward_hook_matches_torch():
    def run(lib):
        m = lib.nn.Linear(3, 2)
        with lib.no_grad():
            m.weight.copy_(lib.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]]))
            m.bias.zero_()
        seen = {}

        def hook(mod, gin, gout):
            seen["gin"], seen["gout"] = gin[0].numpy().copy(), gout[0].numpy().copy()
            return (gin[0] * 2,)
        m.register_full_backward_hook(hook)
        x = lib.tensor([[1.0, -1.0, 2.0]], requires_grad=True)
        (m(x) * lib.tensor([[1.0, 3.0]])).sum().backward()
        return seen, x.grad.numpy()
    (sf, gf), (st, gt) = run(flambeau), run(torch)
    np.testing.assert_allclose(sf["gin"], st["gin"])
    np.testing.assert_allclose(sf["gout"], st["gout"])
    np.testing.assert_allclose(gf, gt)


def test_train_eval_propagate_and_dropout():
    fl = make_net(flambeau)
    assert all(m.training for m in fl.modules())
    assert fl.eval() is fl
    assert not any(m.training for m in fl.modules())
    fl.train()
    assert all(m.training for m in fl.modules())
    with pytest.raises(ValueError, match="boolean"):
        fl.train("yes")
    d = flambeau.nn.Dropout(0.5).eval()
    x = flambeau.ones(10)
    assert d(x) is x


def test_zero_grad_requires_grad_apply():
    m = flambeau.nn.Linear(2, 2)
    m(flambeau.ones(1, 2)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and not m.weight.grad.numpy().any()
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    seq = flambeau.nn.Sequential(flambeau.nn.Linear(1, 1), flambeau.nn.ReLU())
    assert seq.apply(lambda mod: seen.append(type(mod).__name__)) is seq
    assert seen == ["Linear", "ReLU", "Sequential"]


def test_dtype_conversion_keeps_parameters():
    m = make_net(flambeau)
    w = m.block.fc.weight
    m.double()
    assert m.block.fc.weight is w and w.dtype == flambeau.float64 and m.block.running.dtype == flambeau.float64
    assert m.to(flambeau.float32) is m and w.dtype == flambeau.float32
    m.half()
    assert w.dtype == flambeau.float16
    m.float()
    assert m(flambeau.ones(2, 4)).dtype == flambeau.float32
    assert m.to("cpu") is m and m.cpu() is m
    with pytest.raises(RuntimeError, match="not available"):
        m.cuda()
    with pytest.raises(TypeError, match="floating point"):
        m.to(flambeau.int64)


def test_deepcopy_is_independent():
    m = make_net(flambeau)
    c = copy.deepcopy(m)
    assert repr(c) == repr(m)
    assert type(c.scale) is flambeau.nn.Parameter
    assert c.shared is c.layers[0] and c.shared is not m.layers[0]
    for (n, p), (_, q) in zip(m.named_parameters(), c.named_parameters()):
        assert p is not q and p.data_ptr() != q.data_ptr()
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    with flambeau.no_grad():
        c.block.fc.weight.fill_(0)
    assert m.block.fc.weight.detach().numpy().any()


def test_missing_forward():
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        flambeau.nn.Module()(1)


def test_sequential_container_ops():
    nn = flambeau.nn
    a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)
    s = nn.Sequential(a, b, c)
    assert s[0] is a and s[-1] is c and len(s) == 3 and list(s) == [a, b, c]
    assert isinstance(s[1:], nn.Sequential) and list(s[1:]) == [b, c] and list(s[1:]._modules) == ["1", "2"]
    s2 = nn.Sequential(OrderedDict([("first", a), ("second", b)]))
    assert s2.first is a and list(s2.state_dict()) == ["first.weight", "first.bias"]
    s.append(nn.Tanh())
    assert len(s) == 4
    s.insert(1, nn.Identity())
    assert type(s[1]).__name__ == "Identity" and s[2] is b
    s.extend([nn.Sigmoid()])
    del s[0]
    assert list(s._modules) == ["0", "1", "2", "3", "4"]
    t = s + nn.Sequential(nn.ReLU())
    assert len(t) == 6
    with pytest.raises(IndexError, match="index 9 is out of range"):
        s[9]


def test_module_list_dict_parameter_containers():
    nn = flambeau.nn
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    ml.append(nn.ReLU())
    assert len(ml) == 4 and isinstance(ml[1:], nn.ModuleList) and ml[-1] is ml[3]
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    md = nn.ModuleDict({"x": nn.ReLU()})
    md["y"] = nn.Tanh()
    assert list(md.keys()) == ["x", "y"] and "y" in md and len(md) == 2
    pl = nn.ParameterList([flambeau.ones(2), nn.Parameter(flambeau.zeros(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(list(pl.parameters())) == 2
    assert list(pl.state_dict()) == ["0", "1"]
    pd = nn.ParameterDict({"b": flambeau.ones(1), "a": flambeau.ones(2)})
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["a"], nn.Parameter)
    tp = torch.nn.ParameterDict({"b": torch.ones(1), "a": torch.ones(2)})
    assert repr(pd) == repr(tp).replace("torch", "flambeau")
