"""`docker pull`'s progress on stderr: one line (layers done, megabytes) that every pull running at once
shares, drawn only when stderr is a terminal; the Docker engine's pull events go in, nothing else."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Mapping

LAYER_STATUSES = ("Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum", "Download complete",
                  "Extracting", "Pull complete", "Already exists")


class PullProgress:
    """`docker pull`'s progress, in one line on stderr (layers done, bytes): every pull running at once
    shares it. Nothing when stderr is not a terminal."""

    lock = threading.Lock()
    active: dict[int, "PullProgress"] = {}

    def __init__(self, image: str, enabled: bool):
        self.image, self.enabled = image, enabled
        self.layers: dict[str, tuple[int, int, bool]] = {}  # id -> (bytes so far, total, done)
        self.drawn = 0.0

    @classmethod
    def for_stderr(cls, image: str) -> "PullProgress":
        shown = cls(image, enabled=sys.stderr.isatty())
        if shown.enabled:
            with cls.lock:
                cls.active[id(shown)] = shown
        return shown

    def update(self, event: Mapping[str, Any]) -> None:
        layer, status = event.get("id"), str(event.get("status") or "")
        if not self.enabled or not layer or status not in LAYER_STATUSES:
            return  # not a layer's: "Pulling from library/mariadb" (its id is the tag), "Digest: ...", ...
        current, total, done = self.layers.get(layer, (0, 0, False))
        detail = event.get("progressDetail") or {}
        if status == "Downloading" and detail.get("total"):
            current, total = int(detail.get("current") or 0), int(detail["total"])
        elif status in ("Pull complete", "Already exists", "Download complete"):
            current, done = (total or current), status != "Download complete" or done
        self.layers[layer] = (current, total, done)
        now = time.monotonic()
        if now - self.drawn >= 0.1 or status == "Pull complete":
            self.drawn = now
            self.draw()

    def summary(self) -> str:
        done = sum(1 for _, _, d in self.layers.values() if d)
        got = sum(c for c, _, _ in self.layers.values())
        total = sum(t for _, t, _ in self.layers.values())
        size = f", {_mb(got)}/{_mb(total)} MB" if total else ""
        return f"{self.image}: {done}/{len(self.layers)} layers{size}"

    def draw(self) -> None:
        with self.lock:
            line = "pulling " + "; ".join(p.summary() for p in self.active.values())
            sys.stderr.write("\r\x1b[K" + line[:200])
            sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.active.pop(id(self), None)
            sys.stderr.write("\r\x1b[K" + (f"pulled {self.summary()}\n" if self.layers else ""))
            if self.active:
                sys.stderr.write("pulling " + "; ".join(p.summary() for p in self.active.values()))
            sys.stderr.flush()


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"
