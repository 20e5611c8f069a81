"""``_ledger.jsonl``: sources whose every row is in a committed shard. A rerun skips them.

Append-only, one JSON line per finished source, fsynced per append batch; a torn last line from a
killed driver is ignored (that source is simply redone, and its rows deduplicated by id).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LEDGER_NAME = "_ledger.jsonl"


class Ledger:
    def __init__(self, root: Path):
        self.path = root / LEDGER_NAME
        self.done: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._drop_torn_tail()
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn write from a killed run
                self.done[entry["uri"]] = entry

    def _drop_torn_tail(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def __contains__(self, uri: str) -> bool:
        return uri in self.done

    def __len__(self) -> int:
        return len(self.done)

    def append(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        with open(self.path, "a") as f:
            for e in entries:
                f.write(json.dumps(e) + "\n")
                self.done[e["uri"]] = e
            f.flush()
            os.fsync(f.fileno())
