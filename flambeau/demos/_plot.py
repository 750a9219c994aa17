"""Figure helpers shared by the demos (matplotlib, headless)."""
from __future__ import annotations

import numpy as np

COLORS = np.array([[0.9, 0.3, 0.3], [0.3, 0.75, 0.35], [0.3, 0.45, 0.9], [0.8, 0.6, 0.2]])


def pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("the demos draw their figures with matplotlib: pip install 'flambeau[viz]'") from None
    return plt


def grid(lo, hi, n=200):
    """The (n, n, 2) tensor of pixel coordinates (seed 003 §5.5's ``T``) and the meshes."""
    xs = np.linspace(lo[0], hi[0], n, dtype=np.float32)
    ys = np.linspace(lo[1], hi[1], n, dtype=np.float32)
    XX, YY = np.meshgrid(xs, ys)
    return np.stack([XX, YY], axis=-1), XX, YY


def draw_regions(ax, model, points, labels, lo, hi, title="", n=200):
    """Colour every pixel by the predicted class: one batched forward over the (n, n, 2) grid."""
    import flambeau
    T, XX, YY = grid(lo, hi, n)
    with flambeau.no_grad():
        scores = model(flambeau.from_numpy(T))
    cat = flambeau.argmax(scores, dim=-1).numpy()  # (n, n): the predicted category per pixel
    ax.imshow(COLORS[cat] * 0.45 + 0.55, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto")
    ax.scatter(points[:, 0], points[:, 1], c=COLORS[labels], edgecolors="k", s=30)
    ax.set_title(title)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
