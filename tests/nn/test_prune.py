"""``flambeau.nn.utils.prune`` against ``torch.nn.utils.prune`` on the same weights.

Masks (magnitude, structured with several norms and dims, global, custom, iterative), the
reparametrisation (parameter/buffer names, state-dict keys, hooks), outputs and gradients of
``weight_orig``, ``remove``, ``is_pruned``, error messages, the random methods (exact counts,
reproducibility) and a short training run that keeps the pruned weights at zero.
"""
import numpy as np
import pytest
import torch
import torch.nn.utils.prune as tprune

import flambeau
import flambeau.nn.utils.prune as fprune

LAYERS = {
    "linear": (lambda lib: lib.nn.Linear(7, 5), (3, 7)),
    "conv2d": (lambda lib: lib.nn.Conv2d(4, 6, 3), (2, 4, 7, 7)),
    "conv1d": (lambda lib: lib.nn.Conv1d(3, 5, 4), (2, 3, 9)),
}


def _np(t):
    return t.detach().numpy()


def _pair(layer, seed=0):
    """The same layer in both libraries (float64, identical random weights) and an input."""
    make, shape = LAYERS[layer]
    tm = make(torch).double()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
    fm = make(flambeau).double()
    fm.load_state_dict({k: flambeau.tensor(_np(v)) for k, v in tm.state_dict().items()})
    return tm, fm, rng.standard_normal(shape)


def _same_masks(tm, fm):
    tb, fb = dict(tm.named_buffers()), dict(fm.named_buffers())
    assert list(fb) == list(tb)
    for k, tbuf in tb.items():
        assert fb[k].dtype == flambeau.float64
        np.testing.assert_array_equal(_np(fb[k]), _np(tbuf), err_msg=k)


def _same_reparametrisation(tm, fm):
    """Names of parameters, buffers and state-dict keys, masks, forward and gradients agree."""
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert list(fm.state_dict()) == list(tm.state_dict())
    _same_masks(tm, fm)


def _same_forward_backward(tm, fm, x):
    yt, yf = tm(torch.tensor(x)), fm(flambeau.tensor(x))
    np.testing.assert_allclose(_np(yf), _np(yt), rtol=1e-12, atol=1e-12)
    (yt ** 2).sum().backward()
    (yf ** 2).sum().backward()
    for (name, p), (tname, q) in zip(fm.named_parameters(), tm.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
        if name.endswith("_orig"):
            mask = fm.get_buffer(name[:-5] + "_mask").numpy()
            assert np.all(p.grad.numpy()[mask == 0] == 0)      # no gradient through pruned entries


# ----------------------------------------------------------------------------- magnitude pruning
@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 1.0, 0, 4, 11])
def test_l1_unstructured_matches_torch(layer, amount):
    tm, fm, x = _pair(layer)
    assert tprune.l1_unstructured(tm, "weight", amount) is tm
    assert fprune.l1_unstructured(fm, "weight", amount) is fm
    _same_reparametrisation(tm, fm)
    assert list(fm.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    _same_forward_backward(tm, fm, x)


def test_l1_unstructured_on_bias_and_float32():
    tm, fm, _ = _pair("linear")
    tm.float()
    fm.float()
    tprune.l1_unstructured(tm, "bias", 2)
    fprune.l1_unstructured(fm, "bias", 2)
    assert fm.bias_mask.dtype == flambeau.float32
    np.testing.assert_array_equal(_np(fm.bias_mask), _np(tm.bias_mask))
    assert list(fm.state_dict()) == list(tm.state_dict()) == ["weight", "bias_orig", "bias_mask"]


def test_importance_scores_choose_the_mask():
    tm, fm, x = _pair("conv2d")
    scores = np.random.default_rng(5).standard_normal(tuple(tm.weight.shape))
    tprune.l1_unstructured(tm, "weight", 0.4, importance_scores=torch.tensor(scores))
    fprune.l1_unstructured(fm, "weight", 0.4, importance_scores=flambeau.tensor(scores))
    _same_reparametrisation(tm, fm)
    tprune.ln_structured(tm, "weight", 2, n=1, dim=0, importance_scores=torch.tensor(scores))
    fprune.ln_structured(fm, "weight", 2, n=1, dim=0, importance_scores=flambeau.tensor(scores))
    _same_reparametrisation(tm, fm)
    _same_forward_backward(tm, fm, x)


def test_importance_scores_shape_is_checked():
    _, fm, _ = _pair("linear")
    with pytest.raises(AssertionError, match="importance_scores should have the same shape"):
        fprune.l1_unstructured(fm, "weight", 0.5, importance_scores=flambeau.ones(3))
    assert fprune.is_pruned(fm) is False and "weight" in fm._parameters


# ----------------------------------------------------------------------------- structured pruning
@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("n", [1, 2, float("inf"), float("-inf"), "fro", 3])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("amount", [0.4, 2])
def test_ln_structured_matches_torch(layer, n, dim, amount):
    tm, fm, x = _pair(layer)
    if n == "fro" and layer == "conv2d":      # torch.norm refuses 'fro' over 3 dims: so do we
        with pytest.raises(RuntimeError) as te:
            tprune.ln_structured(tm, "weight", amount, n=n, dim=dim)
        with pytest.raises(RuntimeError) as fe:
            fprune.ln_structured(fm, "weight", amount, n=n, dim=dim)
        assert str(fe.value) == str(te.value)
        assert not fprune.is_pruned(fm) and "weight" in fm._parameters and "weight_orig" not in fm._parameters
        return
    tprune.ln_structured(tm, "weight", amount, n=n, dim=dim)
    fprune.ln_structured(fm, "weight", amount, n=n, dim=dim)
    _same_reparametrisation(tm, fm)
    # whole channels are pruned
    m = _np(fm.weight_mask)
    d = dim % m.ndim
    per_channel = m.sum(axis=tuple(a for a in range(m.ndim) if a != d))
    size = m.size // m.shape[d]
    assert set(per_channel.tolist()) <= {0.0, float(size)}
    expected = amount if isinstance(amount, int) else round(amount * m.shape[d])
    assert (per_channel == 0).sum() == expected
    _same_forward_backward(tm, fm, x)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_ln_structured_nuclear_norm_on_a_3d_weight(dim):
    tm, fm, x = _pair("conv1d")
    tprune.ln_structured(tm, "weight", 2, n="nuc", dim=dim)
    fprune.ln_structured(fm, "weight", 2, n="nuc", dim=dim)
    _same_reparametrisation(tm, fm)
    _same_forward_backward(tm, fm, x)


@pytest.mark.parametrize("layer", ["linear", "conv2d"])
def test_ln_structured_nuclear_norm_needs_two_other_dims(layer):
    tm, fm, _ = _pair(layer)
    with pytest.raises(RuntimeError) as te:
        tprune.ln_structured(tm, "weight", 1, n="nuc", dim=0)
    with pytest.raises(RuntimeError) as fe:
        fprune.ln_structured(fm, "weight", 1, n="nuc", dim=0)
    assert str(fe.value) == str(te.value)


def test_structured_errors_match_torch():
    for lib, pr in ((torch, tprune), (flambeau, fprune)):
        m = lib.nn.Linear(4, 3)
        with pytest.raises(ValueError) as e1:
            pr.ln_structured(m, "bias", 1, n=2, dim=0)
        with pytest.raises(IndexError) as e2:
            pr.ln_structured(m, "weight", 1, n=2, dim=2)
        with pytest.raises(ValueError) as e3:
            pr.random_structured(m, "weight", 4, dim=0)
        assert "weight" in m._parameters and "bias" in m._parameters      # rolled back
        assert not pr.is_pruned(m)
        msgs = [str(e1.value), str(e2.value), str(e3.value)]
        if lib is torch:
            tmsgs = msgs
    assert [s.replace("torch.Size", "Size") for s in tmsgs] == \
        [s.replace("flambeau.Size", "Size") for s in msgs]
    assert msgs[0].startswith("Structured pruning can only be applied to multidimensional tensors.")
    assert msgs[2] == "amount=4 should be smaller than the number of parameters to prune=3"


# ----------------------------------------------------------------------------- global, custom, identity
def _global_pair():
    """A small model in both libraries: conv -> linear -> linear, same float64 weights."""
    def make(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(2, 3, 3), lib.nn.Flatten(), lib.nn.Linear(3 * 4 * 4, 6),
                                 lib.nn.Tanh(), lib.nn.Linear(6, 2)).double()
    tm = make(torch)
    rng = np.random.default_rng(3)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
    fm = make(flambeau)
    fm.load_state_dict({k: flambeau.tensor(_np(v)) for k, v in tm.state_dict().items()})
    return tm, fm, rng.standard_normal((2, 2, 6, 6))


def _targets(model):
    return [(model[0], "weight"), (model[2], "weight"), (model[4], "weight"), (model[4], "bias")]


@pytest.mark.parametrize("amount", [0.25, 0.6, 40])
def test_global_unstructured_matches_torch(amount):
    tm, fm, x = _global_pair()
    tprune.global_unstructured(_targets(tm), pruning_method=tprune.L1Unstructured, amount=amount)
    fprune.global_unstructured(_targets(fm), pruning_method=fprune.L1Unstructured, amount=amount)
    _same_reparametrisation(tm, fm)
    total = sum(p.numel() for _, p in fm.named_buffers())
    n_pruned = sum(int((b == 0).sum()) for b in fm.buffers())
    assert n_pruned == (amount if isinstance(amount, int) else round(amount * total))
    _same_forward_backward(tm, fm, x)


def test_global_unstructured_with_scores_after_local_pruning_and_a_generator():
    tm, fm, x = _global_pair()
    tprune.ln_structured(tm[2], "weight", 2, n=2, dim=0)
    fprune.ln_structured(fm[2], "weight", 2, n=2, dim=0)
    scores = np.abs(np.random.default_rng(9).standard_normal(tuple(tm[0].weight.shape)))
    tprune.global_unstructured(_targets(tm), tprune.L1Unstructured,
                               importance_scores={(tm[0], "weight"): torch.tensor(scores)}, amount=0.3)
    fprune.global_unstructured((t for t in _targets(fm)), fprune.L1Unstructured,   # a generator works too
                               importance_scores={(fm[0], "weight"): flambeau.tensor(scores)}, amount=0.3)
    _same_reparametrisation(tm, fm)
    assert isinstance(fm[2]._forward_pre_hooks[next(iter(fm[2]._forward_pre_hooks))], fprune.PruningContainer)
    _same_forward_backward(tm, fm, x)


def test_global_unstructured_rejects_structured_methods_and_bad_arguments():
    _, fm, _ = _global_pair()
    with pytest.raises(TypeError, match='Only "unstructured" PRUNING_TYPE supported'):
        fprune.global_unstructured(_targets(fm), fprune.LnStructured, amount=0.2, n=2, dim=0)
    with pytest.raises(TypeError, match="parameters is not an Iterable"):
        fprune.global_unstructured(3, fprune.L1Unstructured, amount=0.2)
    with pytest.raises(TypeError, match="importance_scores must be of type dict"):
        fprune.global_unstructured(_targets(fm), fprune.L1Unstructured, importance_scores=[1], amount=0.2)
    assert not fprune.is_pruned(fm)


def test_custom_from_mask_matches_torch():
    tm, fm, x = _pair("linear")
    mask = np.random.default_rng(1).integers(0, 2, size=(5, 7))
    tprune.custom_from_mask(tm, "weight", torch.tensor(mask))
    fprune.custom_from_mask(fm, "weight", flambeau.tensor(mask))
    tprune.custom_from_mask(tm, "bias", torch.tensor([0, 1, 0, 1, 1]))
    fprune.custom_from_mask(fm, "bias", flambeau.tensor([0, 1, 0, 1, 1]))
    _same_reparametrisation(tm, fm)
    np.testing.assert_array_equal(fm.bias_mask.numpy(), [0.0, 1.0, 0.0, 1.0, 1.0])
    _same_forward_backward(tm, fm, x)


def test_identity_installs_a_mask_of_ones():
    tm, fm, x = _pair("conv2d")
    tprune.identity(tm, "weight")
    fprune.identity(fm, "weight")
    _same_reparametrisation(tm, fm)
    assert np.all(fm.weight_mask.numpy() == 1)
    _same_forward_backward(tm, fm, x)


# ----------------------------------------------------------------------------- iterative pruning
ITERATIONS = {
    "l1_then_ln": [("l1_unstructured", {"amount": 0.3}), ("ln_structured", {"amount": 0.5, "n": 2, "dim": 0})],
    "l1_then_ln_dim1_inf": [("l1_unstructured", {"amount": 0.4}),
                            ("ln_structured", {"amount": 2, "n": float("inf"), "dim": 1})],
    "ln_then_l1": [("ln_structured", {"amount": 2, "n": 1, "dim": 0}), ("l1_unstructured", {"amount": 0.5})],
    "l1_three_times": [("l1_unstructured", {"amount": 0.2})] * 3,
    "ln_twice_then_custom": [("ln_structured", {"amount": 1, "n": 2, "dim": 1}),
                             ("ln_structured", {"amount": 0.5, "n": 1, "dim": 0}),
                             ("custom_from_mask", {"mask": "random"})],
}


@pytest.mark.parametrize("layer", ["conv2d", "linear"])
@pytest.mark.parametrize("steps", sorted(ITERATIONS))
def test_iterative_pruning_matches_torch(layer, steps):
    tm, fm, x = _pair(layer)
    counts = []
    for fname, kw in ITERATIONS[steps]:
        if kw.get("mask") == "random":
            mask = np.random.default_rng(2).integers(0, 2, size=tuple(tm.weight.shape))
            tkw, fkw = {"mask": torch.tensor(mask)}, {"mask": flambeau.tensor(mask)}
        else:
            tkw = fkw = kw
        getattr(tprune, fname)(tm, "weight", **tkw)
        getattr(fprune, fname)(fm, "weight", **fkw)
        _same_reparametrisation(tm, fm)
        counts.append(int((fm.weight_mask == 0).sum()))
    # one hook, a container holding every step, masks only ever grow
    hooks = list(fm._forward_pre_hooks.values())
    assert len(hooks) == 1 and isinstance(hooks[0], fprune.PruningContainer)
    assert len(hooks[0]) == len(ITERATIONS[steps]) and hooks[0][0]._tensor_name == "weight"
    assert counts == sorted(counts)
    _same_forward_backward(tm, fm, x)


def test_iterative_unstructured_prunes_a_fraction_of_what_is_left():
    m = flambeau.nn.Linear(10, 10)
    fprune.l1_unstructured(m, "weight", 0.5)
    fprune.l1_unstructured(m, "weight", 0.5)
    fprune.random_unstructured(m, "weight", 0.2)
    assert int((m.weight_mask == 0).sum()) == 50 + 25 + 5


def test_iterative_structured_only_counts_remaining_channels():
    m = flambeau.nn.Linear(6, 10)
    fprune.ln_structured(m, "weight", 0.5, n=2, dim=0)        # 5 of 10 rows
    fprune.random_structured(m, "weight", 0.4, dim=0)         # 2 of the 5 remaining rows
    rows_pruned = int((m.weight_mask.sum(dim=1) == 0).sum())
    assert rows_pruned == 7


# ----------------------------------------------------------------------------- mechanics, remove, is_pruned
def test_reparametrisation_mechanics():
    tm, fm, x = _pair("linear")
    w = _np(fm.weight).copy()
    method = fprune.L1Unstructured.apply(fm, "weight", amount=0.4)
    tprune.L1Unstructured.apply(tm, "weight", amount=0.4)
    assert isinstance(method, fprune.L1Unstructured) and method._tensor_name == "weight"
    assert list(fm._forward_pre_hooks.values()) == [method]
    assert "weight" not in fm._parameters and "weight" not in fm._buffers
    assert isinstance(fm.weight_orig, flambeau.nn.Parameter)
    np.testing.assert_array_equal(_np(fm.weight_orig), w)
    assert not isinstance(fm.weight, flambeau.nn.Parameter)
    np.testing.assert_array_equal(_np(fm.weight), w * fm.weight_mask.numpy())
    assert [n for n, _ in fm.named_buffers()] == ["weight_mask"]
    # the hook recomputes `weight` before each forward
    with flambeau.no_grad():
        fm.weight_orig.mul_(2.0)
    fm(flambeau.tensor(x))
    np.testing.assert_array_equal(_np(fm.weight), 2 * w * fm.weight_mask.numpy())
    # prune() on a bare tensor
    t = flambeau.tensor(np.arange(1.0, 7.0).reshape(2, 3) * np.array([1, -1, 1]))
    out = fprune.L1Unstructured(amount=2).prune(t)
    np.testing.assert_array_equal(out.numpy(), [[0, 0, 3], [4, -5, 6]])
    out = fprune.L1Unstructured(amount=1).prune(t, default_mask=flambeau.ones(2, 3),
                                                importance_scores=flambeau.tensor([[9.0, 9, 9], [9, 9, 1]]))
    np.testing.assert_array_equal(out.numpy(), [[1, -2, 3], [4, -5, 0]])


def test_state_dict_round_trips_between_libraries():
    tm, fm, x = _pair("conv2d")
    tprune.l1_unstructured(tm, "weight", 0.5)
    fprune.l1_unstructured(fm, "weight", 0.2)      # a different mask: loading replaces it
    fm.load_state_dict({k: flambeau.tensor(_np(v)) for k, v in tm.state_dict().items()})
    _same_masks(tm, fm)
    _same_forward_backward(tm, fm, x)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_remove_makes_pruning_permanent(layer):
    tm, fm, x = _pair(layer)
    tprune.l1_unstructured(tm, "weight", 0.3)
    fprune.l1_unstructured(fm, "weight", 0.3)
    tprune.ln_structured(tm, "weight", 1, n=2, dim=0)
    fprune.ln_structured(fm, "weight", 1, n=2, dim=0)
    orig = fm.weight_orig
    expected = _np(fm.weight_orig) * fm.weight_mask.numpy()
    assert tprune.remove(tm, "weight") is tm
    assert fprune.remove(fm, "weight") is fm
    assert fm.weight is orig and isinstance(fm.weight, flambeau.nn.Parameter)   # same Parameter object
    np.testing.assert_array_equal(_np(fm.weight), expected)
    np.testing.assert_array_equal(_np(fm.weight), _np(tm.weight))
    assert list(fm.state_dict()) == list(tm.state_dict()) == ["bias", "weight"]
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert list(fm.named_buffers()) == [] and not fm._forward_pre_hooks
    assert not fprune.is_pruned(fm)
    _same_forward_backward(tm, fm, x)


def test_remove_errors_match_torch():
    for lib, pr in ((torch, tprune), (flambeau, fprune)):
        m = lib.nn.Linear(3, 2)
        pr.l1_unstructured(m, "weight", 1)
        with pytest.raises(ValueError, match="Parameter 'bias' of module .* has to be pruned before pruning "
                                             "can be removed"):
            pr.remove(m, "bias")
        pr.remove(m, "weight")
        with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
            pr.remove(m, "weight")
    with pytest.raises(AssertionError, match="has to be pruned"):
        fprune.L1Unstructured(amount=1).apply_mask(flambeau.nn.Linear(3, 2))


def test_is_pruned_looks_at_submodules():
    for lib, pr in ((torch, tprune), (flambeau, fprune)):
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Linear(4, 2)))
        assert pr.is_pruned(model) is False
        model[0].register_forward_pre_hook(lambda mod, inp: None)      # other hooks do not count
        assert pr.is_pruned(model) is False
        pr.random_unstructured(model[1][1], "bias", 1)
        assert pr.is_pruned(model) is True and pr.is_pruned(model[1]) is True
        assert pr.is_pruned(model[0]) is False
        pr.remove(model[1][1], "bias")
        assert pr.is_pruned(model) is False


def test_pruning_two_parameters_of_one_module():
    tm, fm, x = _pair("linear")
    for pr, m in ((tprune, tm), (fprune, fm)):
        pr.l1_unstructured(m, "weight", 0.5)
        pr.l1_unstructured(m, "bias", 2)
        pr.ln_structured(m, "weight", 1, n=1, dim=1)
    _same_reparametrisation(tm, fm)
    assert list(fm.state_dict()) == ["weight_orig", "bias_orig", "weight_mask", "bias_mask"]
    _same_forward_backward(tm, fm, x)


def test_container_checks_its_methods():
    a = fprune.L1Unstructured(amount=1)
    a._tensor_name = "weight"
    b = fprune.L1Unstructured(amount=1)
    b._tensor_name = "bias"
    c = fprune.PruningContainer(a)
    assert c._tensor_name == "weight" and len(c) == 1 and list(c) == [a]
    with pytest.raises(ValueError, match="Can only add pruning methods acting on the parameter named 'weight'"):
        c.add_pruning_method(b)
    with pytest.raises(TypeError, match="is not a BasePruningMethod subclass"):
        c.add_pruning_method("nope")
    with pytest.raises(TypeError):
        fprune.BasePruningMethod()                # abstract


def test_failed_repruning_keeps_the_existing_pruning():
    # PyTorch drops the existing hook when a second pruning call fails; flambeau keeps it
    m = flambeau.nn.Linear(4, 3)
    fprune.l1_unstructured(m, "weight", 2)
    mask = m.weight_mask.numpy().copy()
    hook = next(iter(m._forward_pre_hooks.values()))
    with pytest.raises(ValueError):
        fprune.l1_unstructured(m, "weight", 1.5)                   # invalid amount
    with pytest.raises(ValueError):
        fprune.l1_unstructured(m, "weight", 11)                    # more than the 10 left
    with pytest.raises(IndexError):
        fprune.ln_structured(m, "weight", 1, n=2, dim=3)
    assert list(m._forward_pre_hooks.values()) == [hook] and isinstance(hook, fprune.L1Unstructured)
    np.testing.assert_array_equal(m.weight_mask.numpy(), mask)
    fprune.l1_unstructured(m, "weight", 1)
    fprune.ln_structured(m, "weight", 1, n=2, dim=0)
    container = next(iter(m._forward_pre_hooks.values()))
    with pytest.raises(ValueError):
        fprune.l1_unstructured(m, "weight", 100)
    assert len(container) == 3 and list(m._forward_pre_hooks.values()) == [container]


# ----------------------------------------------------------------------------- amount validation
@pytest.mark.parametrize("amount, exc", [(-1, ValueError), (1.5, ValueError), (-0.1, ValueError),
                                         ("0.5", TypeError), (None, TypeError), (torch.tensor(0.5), TypeError)])
@pytest.mark.parametrize("method", ["L1Unstructured", "RandomUnstructured", "RandomStructured", "LnStructured"])
def test_amount_validation_matches_torch(amount, exc, method):
    extra = {"n": 2} if method == "LnStructured" else {}
    with pytest.raises(exc) as te:
        getattr(tprune, method)(amount, **extra)
    with pytest.raises(exc) as fe:
        getattr(fprune, method)(amount, **extra)
    assert str(fe.value) == str(te.value)


@pytest.mark.parametrize("call", [
    lambda pr, m: pr.l1_unstructured(m, "weight", 13),
    lambda pr, m: pr.random_unstructured(m, "bias", 4),
    lambda pr, m: pr.ln_structured(m, "weight", 5, n=2, dim=1),
    lambda pr, m: pr.random_structured(m, "weight", 4, dim=0),
])
def test_too_large_integer_amounts_match_torch(call):
    msgs = []
    for lib, pr in ((torch, tprune), (flambeau, fprune)):
        m = lib.nn.Linear(4, 3)
        with pytest.raises(ValueError) as e:
            call(pr, m)
        msgs.append(str(e.value))
        assert not pr.is_pruned(m) and "weight" in m._parameters and "bias" in m._parameters
    assert msgs[0] == msgs[1]
    assert "should be smaller than the number of parameters to prune" in msgs[1]


def test_amount_edge_values():
    m = flambeau.nn.Linear(5, 2)
    fprune.l1_unstructured(m, "weight", True)        # a bool is an int: prunes 1
    assert int((m.weight_mask == 0).sum()) == 1
    fprune.l1_unstructured(m, "bias", np.int64(2))    # NumPy integers are accepted
    assert int((m.bias_mask == 0).sum()) == 2
    m = flambeau.nn.Linear(5, 2)
    fprune.l1_unstructured(m, "weight", 0.25)         # round(2.5) == 2 (banker's rounding, as torch)
    assert int((m.weight_mask == 0).sum()) == 2


# ----------------------------------------------------------------------------- ties and NaN
def test_ties_prune_the_lowest_indices_first():
    # torch's choice among equal values depends on its topk algorithm; flambeau's is documented
    m = flambeau.nn.Linear(4, 3, bias=False)
    with flambeau.no_grad():
        m.weight.copy_(flambeau.tensor([[1.0, -1, 2, 1], [1, 3, -1, 1], [2, 2, 1, 5]]))
    fprune.l1_unstructured(m, "weight", 3)      # seven entries have |w| == 1: the first three go
    np.testing.assert_array_equal(m.weight_mask.numpy(), [[0, 0, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]])
    m = flambeau.nn.Linear(3, 4, bias=False)
    with flambeau.no_grad():
        m.weight.fill_(1.0)
    fprune.ln_structured(m, "weight", 2, n=2, dim=0)
    np.testing.assert_array_equal(m.weight_mask.numpy().sum(1), [0, 0, 3, 3])


def test_nan_scores_are_kept_like_torch():
    w = np.array([[0.5, np.nan, -0.1], [2.0, -3.0, 0.2]])
    masks = []
    for lib, pr in ((torch, tprune), (flambeau, fprune)):
        m = lib.nn.Linear(3, 2, bias=False).double()
        pr.l1_unstructured(m, "weight", 3, importance_scores=lib.tensor(w))
        pr.ln_structured(m, "weight", 1, n=1, dim=1, importance_scores=lib.tensor(w))
        masks.append(_np(m.weight_mask))
    np.testing.assert_array_equal(masks[1], masks[0])


# ----------------------------------------------------------------------------- random methods
@pytest.mark.parametrize("amount", [0, 1, 7, 0.3, 0.5, 1.0])
def test_random_unstructured_prunes_exactly_amount(amount):
    m = flambeau.nn.Conv2d(3, 4, 3)
    fprune.random_unstructured(m, "weight", amount)
    expected = amount if isinstance(amount, int) else round(amount * 108)
    assert int((m.weight_mask == 0).sum()) == expected
    assert set(np.unique(m.weight_mask.numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(_np(m.weight), _np(m.weight_orig) * m.weight_mask.numpy())


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("amount", [1, 2, 0.5])
def test_random_structured_prunes_exactly_amount_channels(dim, amount):
    m = flambeau.nn.Conv2d(4, 6, 3)
    fprune.random_structured(m, "weight", amount, dim=dim)
    mask = m.weight_mask.numpy()
    d = dim % 4
    per_channel = mask.sum(axis=tuple(a for a in range(4) if a != d))
    size = mask.size // mask.shape[d]
    assert set(per_channel.tolist()) <= {0.0, float(size)}
    expected = amount if isinstance(amount, int) else round(amount * mask.shape[d])
    assert (per_channel == 0).sum() == expected


def _random_masks(seed):
    flambeau.manual_seed(seed)
    m = flambeau.nn.Linear(8, 6)
    fprune.random_unstructured(m, "weight", 0.4)
    fprune.random_structured(m, "weight", 2, dim=0)
    fprune.random_unstructured(m, "bias", 3)
    return m.weight_mask.numpy().copy(), m.bias_mask.numpy().copy()


def test_random_methods_are_reproducible_with_manual_seed():
    a, b, c = _random_masks(123), _random_masks(123), _random_masks(7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c))
    # counts after composing: 19 of 48 entries, then 2 of the rows still holding a weight
    assert int((a[0] == 0).sum()) >= 19 and int((a[0].sum(1) == 0).sum()) >= 2
    assert int((a[1] == 0).sum()) == 3


def test_random_unstructured_is_uniform():
    # every entry is equally likely to be pruned: frequency k/n over many seeds
    hits = np.zeros(10)
    for seed in range(400):
        flambeau.manual_seed(seed)
        m = flambeau.nn.Linear(10, 1, bias=False)
        fprune.random_unstructured(m, "weight", 3)
        hits += m.weight_mask.numpy().ravel() == 0
    freq = hits / 400
    assert np.all(np.abs(freq - 0.3) < 0.1), freq
    hits = np.zeros(5)
    for seed in range(400):
        flambeau.manual_seed(seed)
        m = flambeau.nn.Linear(3, 5, bias=False)
        fprune.random_structured(m, "weight", 2, dim=0)
        hits += m.weight_mask.numpy().sum(1) == 0
    assert np.all(np.abs(hits / 400 - 0.4) < 0.1), hits / 400


# ----------------------------------------------------------------------------- training
class _Net:
    """Conv2d -> ReLU -> Flatten -> Linear in either library."""

    @staticmethod
    def make(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(2, 4, 3), lib.nn.ReLU(), lib.nn.Flatten(),
                                 lib.nn.Linear(4 * 4 * 4, 3)).double()


def test_training_keeps_pruned_weights_at_zero_and_follows_torch():
    tm = _Net.make(torch)
    rng = np.random.default_rng(11)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)) * 0.3))
    fm = _Net.make(flambeau)
    fm.load_state_dict({k: flambeau.tensor(_np(v)) for k, v in tm.state_dict().items()})
    for pr, m in ((tprune, tm), (fprune, fm)):
        pr.ln_structured(m[0], "weight", 1, n=2, dim=0)
        pr.l1_unstructured(m[0], "weight", 0.3)
        pr.l1_unstructured(m[3], "weight", 0.5)
    _same_masks(tm, fm)
    orig_before = {n: _np(p).copy() for n, p in fm.named_parameters()}
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    fopt = flambeau.optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)
    x = rng.standard_normal((8, 2, 6, 6))
    y = rng.integers(0, 3, size=8)
    for _ in range(5):
        for lib, m, opt in ((torch, tm, topt), (flambeau, fm, fopt)):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
        for layer in (0, 3):
            mask = fm[layer].weight_mask.numpy()
            assert np.all(_np(fm[layer].weight)[mask == 0] == 0)
            assert np.all(fm[layer].weight_orig.grad.numpy()[mask == 0] == 0)
    for (n, p), q in zip(fm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_np(p), _np(q), rtol=1e-9, atol=1e-11, err_msg=n)
        if n.endswith("weight_orig"):   # pruned entries of the original never received an update
            mask = fm.get_buffer(n[:-5] + "_mask").numpy()
            np.testing.assert_array_equal(_np(p)[mask == 0], orig_before[n][mask == 0])
            assert not np.array_equal(_np(p)[mask == 1], orig_before[n][mask == 1])
    # after remove, the pruned weights are plain zeros in the parameter
    fprune.remove(fm[0], "weight")
    assert isinstance(fm[0].weight, flambeau.nn.Parameter)
    assert int((fm[0].weight == 0).sum()) == int((_np(tm[0].weight) == 0).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_default_initialised_layers_match_torch(seed):
    # torch's own float32 initialisation, copied into flambeau: the same masks at every step
    torch.manual_seed(seed)
    layers = [(torch.nn.Conv2d(8, 16, 3), flambeau.nn.Conv2d(8, 16, 3)),
              (torch.nn.Linear(64, 32), flambeau.nn.Linear(64, 32))]
    for tm, fm in layers:
        fm.load_state_dict({k: flambeau.tensor(_np(v)) for k, v in tm.state_dict().items()})
        steps = [("l1_unstructured", {"amount": 0.3}), ("ln_structured", {"amount": 0.25, "n": 1, "dim": 0}),
                 ("ln_structured", {"amount": 0.25, "n": 2, "dim": 1}),
                 ("ln_structured", {"amount": 3, "n": float("inf"), "dim": 0}),
                 ("l1_unstructured", {"amount": 0.5})]
        for fname, kw in steps:
            getattr(tprune, fname)(tm, "weight", **kw)
            getattr(fprune, fname)(fm, "weight", **kw)
            np.testing.assert_array_equal(fm.weight_mask.numpy(), _np(tm.weight_mask), err_msg=fname)
    tprune.global_unstructured([(t, "weight") for t, _ in layers], tprune.L1Unstructured, amount=0.2)
    fprune.global_unstructured([(f, "weight") for _, f in layers], fprune.L1Unstructured, amount=0.2)
    for tm, fm in layers:
        np.testing.assert_array_equal(fm.weight_mask.numpy(), _np(tm.weight_mask))
