"""Settings of the Ray cluster a job runs on (where and how fast, never what: out of every hash)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from humo_data.config_base import StrictModel


class RayConfig(StrictModel):
    address: str | None = Field(None, description="Ray cluster address; None starts a local cluster.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local cluster (None = all).")
    object_store_memory: int | None = Field(
        1 << 30, description="Object store bytes of a local cluster; bounded so memory stays predictable."
    )
    max_sources_in_flight: int = Field(
        8, ge=1, description="Sources decoded at once (the cut stage's task pool); caps memory of the stream."
    )

    in_process_max_shards: int = Field(
        8,
        ge=0,
        description="Grouped phases (identity) and the finish phase's shard rewrites over at most this "
        "many shards run in the driver with the same functions instead of on Ray (whose dataset and "
        "worker start-up cost more than the work on small inputs). 0 = always on Ray.",
    )

    unhashed: ClassVar[frozenset[str]] = frozenset(
        {"address", "num_cpus", "object_store_memory", "max_sources_in_flight", "in_process_max_shards"}
    )
