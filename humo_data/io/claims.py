"""Byte-identical sources under several names are cut once: the first to claim a fingerprint owns
it, the others become ``sources/duplicate_content`` rejects before any decoding.

A tiny Ray actor holds the claims for the whole cluster; the job seeds it with the owners of
sources committed by earlier runs, so a resumed run keeps the same owner.
"""

from __future__ import annotations

import ray


@ray.remote(num_cpus=0, max_restarts=-1)
class SourceClaims:
    def __init__(self, owners: dict[str, str]):
        self.owners = dict(owners)

    def claim(self, source_id: str, uri: str) -> str:
        """The owner of ``source_id``: ``uri`` if first, else the URI that claimed it earlier."""
        return self.owners.setdefault(source_id, uri)
