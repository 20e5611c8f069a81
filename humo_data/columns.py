"""Column surgery on Arrow arrays that more than one layer needs (stages, shard merges)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def scatter(base: pa.ChunkedArray | pa.Array, mask: np.ndarray, new: pa.Array) -> pa.Array:
    """``base`` with the positions where ``mask`` is true replaced, in order, by ``new`` (cast to
    ``base``'s type)."""
    if isinstance(base, pa.ChunkedArray):
        base = base.combine_chunks()
    if isinstance(new, pa.ChunkedArray):
        new = new.combine_chunks()
    if new.type != base.type:
        new = new.cast(base.type)
    index = np.arange(len(base), dtype=np.int64)
    index[mask] = len(base) + np.arange(int(mask.sum()), dtype=np.int64)
    return pa.concat_arrays([base, new]).take(pa.array(index))
