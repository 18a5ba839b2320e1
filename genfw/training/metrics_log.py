"""``metrics.jsonl``: one JSON object per line, each written whole with one write."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from genfw.atomic import _FULL, atomic_write_text, disk_full


class MetricsLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        """Append one line; NaN and infinity become null (they are not JSON)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        line = json.dumps(clean) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError as exc:
            if exc.errno in _FULL:
                raise disk_full(self.path, len(line), "no space left on device") from None
            raise

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a crash mid-write: skip it
                continue
        return out

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (a resumed run writes them again)."""
        if self.path.is_file():
            kept = [r for r in self.read() if r.get("step", 0) <= step]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
