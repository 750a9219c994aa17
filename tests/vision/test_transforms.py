import colorsys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import flambeau
from flambeau.vision import transforms as T
from flambeau.vision.transforms import functional as F


def _img(h=6, w=7, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, c), dtype=np.uint8)


def test_to_tensor_uint8_hw_hwc_and_float():
    a = _img()
    t = T.ToTensor()(a)
    assert t.dtype == flambeau.float32 and t.shape == (3, 6, 7)
    ref = torch.from_numpy(a).permute(2, 0, 1).float().div(255)
    np.testing.assert_array_equal(t.numpy(), ref.numpy())
    g = a[:, :, 0]
    tg = T.ToTensor()(g)
    assert tg.shape == (1, 6, 7)
    np.testing.assert_array_equal(tg.numpy()[0], g.astype(np.float32) / np.float32(255))
    f = np.random.default_rng(1).random((4, 5, 2))
    tf = T.ToTensor()(f)
    assert tf.dtype == flambeau.float64 and tf.shape == (2, 4, 5)
    np.testing.assert_array_equal(tf.numpy(), f.transpose(2, 0, 1))
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([1, 2])
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional"):
        T.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))
    p = T.PILToTensor()(a)
    assert p.dtype == flambeau.uint8 and p.shape == (3, 6, 7)


def test_to_tensor_accepts_pil_image():
    Image = pytest.importorskip("PIL.Image")
    a = _img()
    np.testing.assert_array_equal(T.ToTensor()(Image.fromarray(a)).numpy(), T.ToTensor()(a).numpy())


def test_normalize_matches_torch_and_batched():
    x = np.random.default_rng(0).random((2, 3, 4, 5)).astype(np.float32)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    ref = (torch.tensor(x) - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
    out = T.Normalize(mean, std)(flambeau.tensor(x))
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    single = T.Normalize(mean, std)(flambeau.tensor(x[1]))
    np.testing.assert_array_equal(single.numpy(), ref.numpy()[1])
    t = flambeau.tensor(x)
    r = T.Normalize(mean, std, inplace=True)(t)
    assert r is t
    np.testing.assert_array_equal(t.numpy(), ref.numpy())
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize((0,), (1,))(flambeau.zeros(1, 2, 2, dtype=flambeau.uint8))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0,), (0,))(flambeau.zeros(1, 2, 2))
    assert repr(T.Normalize((0.1307,), (0.3081,))) == "Normalize(mean=(0.1307,), std=(0.3081,))"


def test_compose_lambda_repr():
    c = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2)])
    np.testing.assert_allclose(c(np.full((2, 2), 255, np.uint8)).numpy(), 2.0)
    assert repr(c) == "Compose(\n    ToTensor()\n    Lambda()\n)"
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        T.Lambda(3)


@pytest.mark.parametrize("mode,torch_mode", [("constant", "constant"), ("edge", "replicate"),
                                             ("reflect", "reflect")])
def test_pad_matches_torch(mode, torch_mode):
    x = np.random.default_rng(0).random((3, 5, 6)).astype(np.float32)
    out = T.Pad((1, 2, 3, 4), fill=0, padding_mode=mode)(flambeau.tensor(x))
    ref = TF.pad(torch.tensor(x)[None], (1, 3, 2, 4), mode=torch_mode)[0]
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_pad_numpy_image_symmetric_fill_and_errors():
    a = _img(4, 4)
    out = T.Pad(2, padding_mode="symmetric")(a)
    np.testing.assert_array_equal(out, np.pad(a, ((2, 2), (2, 2), (0, 0)), mode="symmetric"))
    out = T.Pad([1, 2], fill=(10, 20, 30))(a)
    assert out.shape == (8, 6, 3)
    assert out[0, 0].tolist() == [10, 20, 30]
    np.testing.assert_array_equal(out[2:6, 1:5], a)
    with pytest.raises(ValueError, match="Padding mode should be either"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4 element tuple"):
        T.Pad((1, 2, 3))


def test_center_crop_and_flips_deterministic():
    a = _img(7, 8)
    np.testing.assert_array_equal(T.CenterCrop(4)(a), a[2:6, 2:6])  # round(1.5)=2, round(2.0)=2
    np.testing.assert_array_equal(T.CenterCrop((3, 5))(a), a[2:5, 2:7])
    big = T.CenterCrop(10)(a)
    assert big.shape == (10, 10, 3)
    np.testing.assert_array_equal(big[1:8, 1:9], a)
    assert big[0].sum() == 0 and big[:, 0].sum() == 0
    t = flambeau.tensor(a).permute(2, 0, 1)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1)(t).numpy(), t.numpy()[..., ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1)(t).numpy(), t.numpy()[..., ::-1, :])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1)(a), a[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0)(a), a)


def test_random_crop_reproducible_and_windows():
    a = _img(8, 8)
    tr = T.RandomCrop(8, padding=2)
    padded = np.pad(a, ((2, 2), (2, 2), (0, 0)))
    flambeau.manual_seed(7)
    outs = [tr(a) for _ in range(20)]
    for o in outs:
        assert o.shape == (8, 8, 3)
        assert any(np.array_equal(o, padded[i:i + 8, j:j + 8]) for i in range(5) for j in range(5))
    assert len({o.tobytes() for o in outs}) > 3
    flambeau.manual_seed(7)
    assert all(np.array_equal(o, tr(a)) for o in outs)
    assert T.RandomCrop(10, pad_if_needed=True)(a).shape == (10, 10, 3)
    with pytest.raises(ValueError, match="Required crop size"):
        T.RandomCrop(10)(a)


def test_resize_matches_torch_interpolate():
    x = np.random.default_rng(0).random((2, 3, 12, 10)).astype(np.float32)
    for size in [(24, 20), (5, 7), (12, 4), (17, 10)]:
        out = T.Resize(size)(flambeau.tensor(x)).numpy()
        ref = TF.interpolate(torch.tensor(x), size=size, mode="bilinear", align_corners=False, antialias=True)
        np.testing.assert_allclose(out, ref.numpy(), atol=2e-6)
        out = T.Resize(size, interpolation=T.InterpolationMode.NEAREST)(flambeau.tensor(x)).numpy()
        np.testing.assert_array_equal(out, TF.interpolate(torch.tensor(x), size=size, mode="nearest").numpy())
    # int size: the smaller edge
    assert T.Resize(6)(flambeau.tensor(x)).shape == (2, 3, 7, 6)
    u8 = _img(9, 9)
    r = T.Resize((4, 4))(u8)
    assert r.dtype == np.uint8 and r.shape == (4, 4, 3)
    with pytest.raises(ValueError, match="interpolation"):
        T.Resize(4, interpolation=T.InterpolationMode.LANCZOS)
    with pytest.raises(ValueError, match="interpolation"):
        T.RandomRotation(10, interpolation=T.InterpolationMode.BICUBIC)


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_resize_modes_match_torch_interpolate(mode, antialias):
    """torchvision's tensor resize is interpolate(align_corners=False, antialias=...); uint8
    images are resized in float32, rounded and clipped (bicubic overshoots past 0 and 255)."""
    x = np.random.default_rng(1).random((3, 11, 13)).astype(np.float32)
    interp = T.InterpolationMode(mode)
    for size in [(22, 26), (5, 6), (11, 4), (17, 13)]:
        out = T.Resize(size, interpolation=interp, antialias=antialias)(flambeau.tensor(x)).numpy()
        ref = TF.interpolate(torch.tensor(x)[None], size=size, mode=mode, antialias=antialias)[0]
        np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=2e-6)
    u8 = (np.arange(11 * 13 * 3).reshape(11, 13, 3) % 2 * 255).astype(np.uint8)    # sharp edges: overshoot
    out = T.Resize((7, 20), interpolation=interp, antialias=antialias)(u8)
    ref = TF.interpolate(torch.tensor(u8, dtype=torch.float32).permute(2, 0, 1)[None], size=(7, 20), mode=mode,
                         antialias=antialias)[0].permute(1, 2, 0).round().clamp(0, 255).numpy()
    assert out.dtype == np.uint8
    assert np.abs(out.astype(np.int64) - ref.astype(np.int64)).max() <= 1     # float rounding at .5


def _torchvision_grid(matrix, w, h, ow, oh):
    # torchvision's _gen_affine_grid, written with torch ops
    theta = torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3)
    base = torch.empty(1, oh, ow, 3)
    base[..., 0].copy_(torch.linspace(-ow * 0.5 + 0.5, ow * 0.5 + 0.5 - 1, steps=ow))
    base[..., 1].copy_(torch.linspace(-oh * 0.5 + 0.5, oh * 0.5 + 0.5 - 1, steps=oh).unsqueeze(-1))
    base[..., 2].fill_(1)
    rescaled = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h])
    return base.view(1, oh * ow, 3).bmm(rescaled).view(1, oh, ow, 2)


def _reference_affine(x, matrix, mode, fill, ow=None, oh=None):
    h, w = x.shape[-2:]
    ow, oh = ow or w, oh or h
    img = torch.tensor(x)[None]
    grid = _torchvision_grid(matrix, w, h, ow, oh)
    if fill is None:
        return TF.grid_sample(img, grid, mode=mode, padding_mode="zeros", align_corners=False)[0].numpy()
    img = torch.cat([img, torch.ones(1, 1, h, w)], 1)
    out = TF.grid_sample(img, grid, mode=mode, padding_mode="zeros", align_corners=False)
    mask, out = out[:, -1:].expand(1, x.shape[0], oh, ow), out[:, :-1]
    fill_img = torch.tensor(fill, dtype=torch.float32).view(1, -1, 1, 1).expand_as(out)
    if mode == "nearest":
        out = out.clone()
        out[mask < 0.5] = fill_img[mask < 0.5]
    else:
        out = out * mask + (1.0 - mask) * fill_img
    return out[0].numpy()


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_affine_and_rotate_match_grid_sample(mode):
    x = np.random.default_rng(0).random((2, 9, 11)).astype(np.float32)
    interp = T.InterpolationMode(mode)
    cases = [(30.0, (1, -2), 1.2, (10.0, 5.0), [0.0, 0.0]), (-45.0, (0, 0), 0.8, (0.0, 0.0), None),
             (90.0, (2, 1), 1.0, (-20.0, 0.0), [0.5, 0.25])]
    for angle, tr, sc, sh, fill in cases:
        out = F.affine(flambeau.tensor(x), angle, list(tr), sc, list(sh), interpolation=interp, fill=fill).numpy()
        matrix = F._get_inverse_affine_matrix([0.0, 0.0], angle, [float(t) for t in tr], sc, sh)
        np.testing.assert_allclose(out, _reference_affine(x, matrix, mode, fill), atol=1e-5)
    out = F.rotate(flambeau.tensor(x), 33.0, interpolation=interp, expand=True).numpy()
    matrix = F._get_inverse_affine_matrix([0.0, 0.0], -33.0, [0.0, 0.0], 1.0, [0.0, 0.0])
    ow, oh = F._affine_output_size(matrix, 11, 9)
    # torchvision's _compute_affine_output_size, with torch ops
    pts = torch.tensor([[-5.5, -4.5, 1.0], [-5.5, 4.5, 1.0], [5.5, 4.5, 1.0], [5.5, -4.5, 1.0]])
    new_pts = pts @ torch.tensor(matrix, dtype=torch.float).view(2, 3).T
    mn, mx = new_pts.aminmax(dim=0)
    mn, mx = mn + torch.tensor((5.5, 4.5)), mx + torch.tensor((5.5, 4.5))
    size = torch.ceil((mx / 1e-4).trunc_() * 1e-4) - torch.floor((mn / 1e-4).trunc_() * 1e-4)
    assert (ow, oh) == (int(size[0]), int(size[1])) and out.shape == (2, oh, ow) and ow > 11 and oh > 9
    np.testing.assert_allclose(out, _reference_affine(x, matrix, mode, None, ow, oh), atol=1e-5)


def test_rotate_90_is_exact_and_numpy_layout():
    a = _img(5, 5)
    r = F.rotate(a, 90.0)
    np.testing.assert_array_equal(r, np.rot90(a, 1))  # counter-clockwise
    t = flambeau.tensor(a).permute(2, 0, 1).contiguous()
    np.testing.assert_array_equal(F.rotate(t, 90.0).numpy(), np.rot90(a, 1).transpose(2, 0, 1))


def test_random_affine_rotation_reproducible():
    a = _img(10, 10)
    tr = T.RandomAffine(degrees=20, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)
    flambeau.manual_seed(3)
    o1 = [tr(a) for _ in range(3)]
    flambeau.manual_seed(3)
    o2 = [tr(a) for _ in range(3)]
    assert all(np.array_equal(p, q) for p, q in zip(o1, o2))
    assert o1[0].shape == a.shape and o1[0].dtype == np.uint8
    rot = T.RandomRotation((90, 90))
    np.testing.assert_array_equal(rot(a), np.rot90(a, 1))
    with pytest.raises(ValueError, match="must be positive"):
        T.RandomRotation(-3)


def test_color_adjustments_match_reference():
    x = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    t = flambeau.tensor(x)
    tx = torch.tensor(x)
    gray = (0.2989 * tx[0] + 0.587 * tx[1] + 0.114 * tx[2])[None]
    np.testing.assert_allclose(F.adjust_brightness(t, 1.5).numpy(), (1.5 * tx).clamp(0, 1).numpy(), atol=1e-6)
    mean = gray.mean()
    np.testing.assert_allclose(F.adjust_contrast(t, 0.3).numpy(), (0.3 * tx + 0.7 * mean).clamp(0, 1).numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(F.adjust_saturation(t, 1.7).numpy(), (1.7 * tx - 0.7 * gray).clamp(0, 1).numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(F.rgb_to_grayscale(t).numpy(), gray.numpy(), atol=1e-6)
    # hue against the standard library's HSV conversion
    out = F.adjust_hue(t, 0.2).numpy()
    ref = np.empty_like(x)
    for i in range(4):
        for j in range(5):
            hh, s, v = colorsys.rgb_to_hsv(*x[:, i, j])
            ref[:, i, j] = colorsys.hsv_to_rgb((hh + 0.2) % 1.0, s, v)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # uint8 images stay uint8
    a = _img()
    assert F.adjust_brightness(a, 2.0).dtype == np.uint8
    np.testing.assert_array_equal(F.adjust_brightness(a, 0.5),
                                  (np.float32(0.5) * a.astype(np.float32)).astype(np.uint8))


def test_color_jitter_reproducible_and_validates():
    a = _img()
    cj = T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
    flambeau.manual_seed(0)
    o = cj(a)
    flambeau.manual_seed(0)
    np.testing.assert_array_equal(o, cj(a))
    assert o.dtype == np.uint8 and o.shape == a.shape and not np.array_equal(o, a)
    assert T.ColorJitter().brightness is None
    assert T.ColorJitter(brightness=0.5).brightness == (0.5, 1.5)
    with pytest.raises(ValueError, match="hue values should be between"):
        T.ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="must be non negative"):
        T.ColorJitter(contrast=-1)


def test_gaussian_blur_matches_conv2d():
    x = np.random.default_rng(0).random((3, 10, 12)).astype(np.float32)
    out = T.GaussianBlur((5, 3), sigma=(1.3, 1.3))(flambeau.tensor(x)).numpy()
    k = lambda n, s: torch.exp(-0.5 * (torch.linspace(-(n - 1) / 2, (n - 1) / 2, n) / s) ** 2)  # noqa: E731
    kx, ky = k(5, 1.3), k(3, 1.3)
    kern = (ky[:, None] * kx[None, :])
    kern = (kern / kern.sum()).expand(3, 1, 3, 5)
    ref = TF.conv2d(TF.pad(torch.tensor(x)[None], (2, 2, 1, 1), mode="reflect"), kern, groups=3)[0]
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-6)
    a = _img(8, 8)
    b = T.GaussianBlur(3, sigma=1.0)(a)
    assert b.dtype == np.uint8 and b.shape == a.shape
    with pytest.raises(ValueError, match="odd and positive"):
        T.GaussianBlur(4)


def test_random_erasing():
    t = flambeau.ones(3, 20, 20)
    flambeau.manual_seed(1)
    out = T.RandomErasing(p=1.0, value=0)(t)
    z = out.numpy() == 0
    assert z.any() and not z.all() and t.numpy().min() == 1  # not in place
    rows, cols = np.nonzero(z[0])
    assert z[0, rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one rectangle
    assert (z[0] == z[1]).all()
    flambeau.manual_seed(1)
    np.testing.assert_array_equal(T.RandomErasing(p=1.0, value=0)(t).numpy(), out.numpy())
    r = T.RandomErasing(p=1.0, value="random")(t)
    assert r.shape == t.shape
    assert T.RandomErasing(p=0.0)(t) is t
    with pytest.raises(ValueError, match="If value is str, it should be 'random'"):
        T.RandomErasing(value="x")


def test_random_apply_choice_order_resized_crop_grayscale():
    a = _img()
    flip = T.RandomHorizontalFlip(p=1)
    np.testing.assert_array_equal(T.RandomApply([flip], p=1.0)(a), a[:, ::-1])
    np.testing.assert_array_equal(T.RandomApply([flip], p=0.0)(a), a)
    ch = T.RandomChoice([T.Lambda(lambda x: 1), T.Lambda(lambda x: 2)])
    flambeau.manual_seed(0)
    picks = [ch(a) for _ in range(50)]
    assert set(picks) == {1, 2}
    assert T.RandomChoice([T.Lambda(lambda x: 1), T.Lambda(lambda x: 2)], p=[0, 1])(a) == 2
    order = T.RandomOrder([T.Lambda(lambda x: x + [1]), T.Lambda(lambda x: x + [2])])
    outs = {tuple(order([])) for _ in range(30)}
    assert outs == {(1, 2), (2, 1)}
    rrc = T.RandomResizedCrop(5)
    assert rrc(_img(12, 16)).shape == (5, 5, 3)
    g = T.Grayscale()(a)
    assert g.shape == (6, 7, 1) and g.dtype == np.uint8
    assert T.Grayscale(3)(flambeau.tensor(a).permute(2, 0, 1).float()).shape == (3, 6, 7)


def test_batched_fast_path_equals_per_sample():
    from flambeau.vision.transforms.transforms import batched
    imgs = np.random.default_rng(0).integers(0, 256, (5, 6, 7), dtype=np.uint8)
    tr = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.25,)), T.Pad(1), T.CenterCrop(5)])
    fn = batched(tr, 2)
    np.testing.assert_array_equal(fn(imgs).numpy(), np.stack([tr(i).numpy() for i in imgs]))
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    tr = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.4, 0.3), (0.2, 0.2, 0.2))])
    np.testing.assert_array_equal(batched(tr, 3)(rgb).numpy(), np.stack([tr(i).numpy() for i in rgb]))
    assert batched(T.Compose([T.RandomHorizontalFlip(), T.ToTensor()]), 2) is None
    assert batched(T.Normalize((0.5,), (0.5,)), 2) is None  # needs a tensor first
    assert batched(lambda x: x, 2) is None
    assert batched(None, 2)(imgs) is imgs
