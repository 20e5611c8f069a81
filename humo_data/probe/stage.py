"""The probe stage: the stream's first look at each source (headers and the first frame, before any
decode), filling the source_* columns or rejecting the source with the probe's reason.

The probing itself lives in ``humo_data/media/probe.py``; this stage adds what a job needs around
it: retries of transient I/O errors, the content fingerprint, and byte-identical copies claimed
once (``io/claims.py``).
"""

from __future__ import annotations

from humo_data.ids import reject_id_for
from humo_data.io.retry import call_with_retries, describe, is_retryable
from humo_data.io.sources import MISSING_SIZE, fingerprint
from humo_data.media.config import ProbeConfig
from humo_data.media.probe import probe_media
from humo_data.stage import FanOutStage, Row

__all__ = ["ProbeStage"]


class ProbeStage(FanOutStage[ProbeConfig]):
    """Fill the source_* columns of each source row, or reject it with the probe's reason.

    Transient I/O errors (timeouts, throttling, resets) are retried with backoff; if they persist
    the row becomes ``_kind="retry"`` (listed in the manifest for the next run, never a reject).
    """

    name = "probe"
    inputs = ("source_uri", "_source_size")
    outputs = (
        "source_id", "source_duration", "source_fps", "source_vfr", "source_width", "source_height",
        "source_rotation", "source_bits_per_pixel", "has_audio",
    )  # fmt: skip

    def __init__(self, config: ProbeConfig, retries: int = 3, backoff: float = 1.0, claims=None):
        super().__init__(config)
        self.retries, self.backoff = retries, backoff
        self.claims = claims  # io.claims.SourceClaims actor: byte-identical copies are cut once

    def process(self, rows: list[Row]) -> list[Row]:
        return [self._probe_row(row) for row in rows]

    def _reject(self, row: Row, reason: str, detail: str | None, stage: str | None = None) -> Row:
        row.update(_reject_stage=stage or self.name, _reject_reason=reason, _reject_detail=detail)
        row["_unit"] = reject_id_for(row)
        return row

    def _probe_row(self, row: Row) -> Row:
        uri = row["source_uri"]
        if row.get("_source_size") == MISSING_SIZE:
            return self._reject(row, "missing", "listed source does not exist")
        if row.get("_source_size") == 0:
            return self._reject(row, "empty_file", "file is 0 bytes")
        try:
            res = call_with_retries(lambda: probe_media(uri, self.config), retries=self.retries,
                                    backoff=self.backoff)  # fmt: skip
            source_id = (
                call_with_retries(lambda: fingerprint(uri), retries=self.retries, backoff=self.backoff)
                if res.ok
                else _fingerprint_or_none(uri)
            )
        except Exception as err:  # noqa: BLE001 - only retryable errors get here (probe_media catches the rest)
            if not is_retryable(err):
                return self._reject(row, "unreadable", describe(err))
            row.update(_kind="retry", _reject_stage=self.name, _reject_reason="retryable_io",
                       _reject_detail=describe(err))  # fmt: skip
            return row
        row["source_id"] = source_id
        row.update(
            source_duration=res.duration,
            source_fps=res.fps,
            source_vfr=res.vfr,
            source_width=res.width,
            source_height=res.height,
            source_bits_per_pixel=res.bits_per_pixel,
            source_rotation=res.rotation,
            has_audio=res.has_audio,
        )
        if res.reject_reason:
            return self._reject(row, res.reject_reason, res.reject_detail)
        if not source_id:
            return self._reject(row, "unreadable", "no content fingerprint: clip ids need one")
        if self.claims is not None:
            import ray

            owner = ray.get(self.claims.claim.remote(source_id, uri))
            if owner != uri:
                return self._reject(
                    row,
                    "duplicate_content",
                    f"same bytes as {owner}; its clips are kept once",
                    stage="sources",
                )
        return row


def _fingerprint_or_none(uri: str) -> str | None:
    """A rejected file's fingerprint when it can be read (a reject row names its source)."""
    try:
        return fingerprint(uri)
    except Exception:  # noqa: BLE001 - best effort for the reject row only
        return None
