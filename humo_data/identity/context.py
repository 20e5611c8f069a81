"""How two context descriptors compare (1 = same scene): the identity pass's same-set-and-clothes
test. The faces stage writes the descriptors (humo_data/faces/context.py, one layout per
``faces.context_backend``); comparing them lives here, with the pass that decides by it.

- ``surround``: layout ``[mask (N cells, 1 = seen), L (N), a (N), b (N)]``, unseen cells 0. Two
  descriptors compare by the colour correlation over the cells both see (each channel centred on
  those cells, channels pooled); NaN where they share too few cells to say.
- any other backend (``histogram``, ``open_clip``): unit vectors, dot product.
"""

from __future__ import annotations

import numpy as np

#: surround descriptor channels (CIELAB L, a, b)
SURROUND_CHANNELS = 3
#: comparable when the shared cells are this share of the smaller seen set, and at least MIN_CELLS
MIN_COMMON = 0.5
MIN_CELLS = 24


def surround_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, m] masked colour correlations of two stacks of surround descriptors (NaN: not comparable)."""
    a = np.atleast_2d(np.asarray(a, np.float64))
    b = np.atleast_2d(np.asarray(b, np.float64))
    n_cells = a.shape[1] // (1 + SURROUND_CHANNELS)
    ma, mb = a[:, :n_cells], b[:, :n_cells]
    common = ma @ mb.T
    count = np.maximum(common, 1.0)
    num = np.zeros_like(common)
    var_a = np.zeros_like(common)
    var_b = np.zeros_like(common)
    for c in range(SURROUND_CHANNELS):
        xa = a[:, n_cells * (1 + c) : n_cells * (2 + c)]
        xb = b[:, n_cells * (1 + c) : n_cells * (2 + c)]
        sa, sb = xa @ mb.T, ma @ xb.T  # sums over the shared cells
        num += xa @ xb.T - sa * sb / count
        var_a += (xa * xa) @ mb.T - sa * sa / count
        var_b += ma @ (xb * xb).T - sb * sb / count
    out = num / np.sqrt(np.maximum(var_a, 1e-9) * np.maximum(var_b, 1e-9))
    smaller = np.minimum(ma.sum(1)[:, None], mb.sum(1)[None, :])
    out[(common < MIN_COMMON * smaller) | (common < MIN_CELLS)] = np.nan
    return out


def context_similarity(backend: str | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, m] similarities of two stacks of descriptors made by ``backend`` (a dot product for any
    backend but surround: the unit-vector contract of the others)."""
    if backend == "surround":
        return surround_similarity(a, b)
    return np.atleast_2d(np.asarray(a, np.float32)) @ np.atleast_2d(np.asarray(b, np.float32)).T
