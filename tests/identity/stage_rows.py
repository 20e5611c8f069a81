"""Face-stage output -> the identity pass's input, as the dataset writer routes it: the
``_features_faces`` struct of each kept clip with clip_id/source_id, plus the shard name."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from humo_data.schema import feature_spec, feature_work_column


def features_from_stage(out: pa.Table, shard: str = "part-0") -> pa.Table:
    col = feature_work_column("faces")
    kept = out.filter(pc.and_(pc.is_valid(out.column(col)), pc.is_null(out.column("_reject_reason"))))
    struct = kept.column(col).combine_chunks()
    spec = feature_spec("faces").schema
    cols = {"clip_id": kept.column("clip_id"), "source_id": kept.column("source_id")}
    cols |= {f.name: struct.field(f.name) for f in spec if f.name not in cols}
    table = pa.table(cols).cast(spec)
    return table.append_column("_shard", pa.array([shard] * table.num_rows, pa.string()))
