"""What every benchmark section shares: paths, the image list, statistics, the machine.

Times are wall-clock (time.perf_counter). The machine these run on is shared, so a
section reports the median of several repetitions and their spread, and compares
implementations by ratios measured side by side in the same run.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACEDB_SHARED", REPO.parent / "shared")).resolve()
FACES = SHARED / "faces"
WEIGHTS = Path(os.environ.get("FACEDB_WEIGHTS", SHARED / "weights")).resolve()
# Gitignored: caches (real embeddings) and raw results.
CACHE = REPO / "benchmarks" / "cache"
RESULTS = REPO / "benchmarks" / "results"
# Photos above this are left out of the pipeline comparison (for both implementations):
# the five 20-36 MP camera originals would dominate the total with JPEG decoding.
MAX_PIXELS = 20_000_000


@dataclass(frozen=True)
class Spread:
    """Median and spread of repeated measurements (same unit as the samples)."""

    median: float
    low: float  # smallest sample
    high: float  # largest sample
    n: int

    def fmt(self, digits: int = 1) -> str:
        if self.n == 1:
            return f"{self.median:.{digits}f}"
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"


def spread(samples: Sequence[float]) -> Spread:
    if not samples:
        return Spread(float("nan"), float("nan"), float("nan"), 0)
    return Spread(statistics.median(samples), min(samples), max(samples), len(samples))


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@contextmanager
def stopwatch(into: list[float]) -> Iterator[None]:
    """Appends the seconds the block took to ``into``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        into.append(time.perf_counter() - start)


def benchmark_images(limit: int) -> list[Path]:
    """Up to ``limit`` images of the shared faces (every manifest row that both
    implementations can decode, under MAX_PIXELS), the multi-face ones first so that
    a small limit still has several faces per image, then CelebA, then the rest."""
    with (FACES / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    chosen: list[tuple[int, str]] = []
    for row in rows:
        path = FACES / row["path"]
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS or im.format in ("GIF", "ICO"):
                continue
        faces = int(row["faces"]) if row["faces"] else 1
        rank = 0 if faces > 1 else (1 if row["path"].startswith("celeba/") else 2)
        chosen.append((rank, row["path"]))
    chosen.sort()
    multi = [p for rank, p in chosen if rank == 0]
    single = [p for rank, p in chosen if rank != 0]
    # Interleave: about one multi-face image in six, as in a mixed photo collection.
    ordered: list[str] = []
    while multi or single:
        if multi:
            ordered.append(multi.pop(0))
        ordered.extend(single[:5])
        del single[:5]
    return [FACES / p for p in ordered[:limit]]


def cpu_model() -> str:
    """The CPU's name and its widest vector instructions: two "AMD EPYC" machines of
    this project differ by 2x in frame time, with and without AVX-512."""
    name, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    name = name or platform.processor() or "unknown"
    if "avx512f" in flags:
        return f"{name}, AVX-512" + (" VNNI" if "avx512_vnni" in flags else "")
    if "avx2" in flags:
        return f"{name}, AVX2, no AVX-512"
    return name


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"), float("nan"), float("nan"))


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def write_section(path: Path, heading: str, text: str) -> None:
    """Replaces the section of ``path`` that starts at ``heading`` (up to the next "## "
    heading or generated block), or appends it; the rest of the file is kept."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if heading in old:
        head, rest = old.split(heading, 1)
        ends = [i for i in (rest.find("\n## "), rest.find("\n<!-- begin")) if i >= 0]
        tail = rest[min(ends) + 1 :] if ends else ""
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf-8")


# The targets measured by the scripts that write a section of their own (watch.py,
# frames.py, ...): each records its figure here, and `make bench` renders the Targets
# table last, with them (`benchmarks.run --full --render`).
STANDALONE = RESULTS / "standalone.json"


def record_measured(key: str, value: float, detail: str, where: str = "") -> None:
    """Keeps one target's measurement of a standalone script for the Targets table."""
    data = json.loads(STANDALONE.read_text()) if STANDALONE.exists() else {}
    when = time.strftime("%Y-%m-%d")
    data[f"{key}|{where}"] = {
        "key": key,
        "value": value,
        "detail": detail,
        "where": f"{where}, {when}" if where else when,
    }
    STANDALONE.parent.mkdir(parents=True, exist_ok=True)
    STANDALONE.write_text(json.dumps(data, indent=1), encoding="utf-8")


def standalone_measured() -> list[dict[str, Any]]:
    return list(json.loads(STANDALONE.read_text()).values()) if STANDALONE.exists() else []
