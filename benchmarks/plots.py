"""Small PNG plots for docs/BENCHMARKS.md (matplotlib's object API: no pyplot, no
global backend state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

SIZE = (6.4, 3.2)
DPI = 90
COLOURS = {"facedb": "#1f77b4", "insightface": "#ff7f0e"}


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE)
    return fig, fig.subplots()


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def plot_pipeline(vision: dict[str, Any], path: Path) -> None:
    """Images per second per configuration, median with the range as error bars."""
    configs = vision["configs"]
    fig, ax = _figure()
    width = 0.38
    for k, impl in enumerate(("facedb", "insightface")):
        xs, ys, lo, hi = [], [], [], []
        for i, c in enumerate(configs):
            if impl not in c:
                continue
            rates = sorted(c["images"] / w for w in c[impl]["wall_s"])
            mid = (
                rates[len(rates) // 2]
                if len(rates) % 2
                else sum(rates[len(rates) // 2 - 1 : len(rates) // 2 + 1]) / 2
            )
            xs.append(i + (k - 0.5) * width)
            ys.append(mid)
            lo.append(mid - rates[0])
            hi.append(rates[-1] - mid)
        ax.bar(xs, ys, width, yerr=[lo, hi], label=impl, color=COLOURS[impl], capsize=3)
    labels = [c["label"].replace(", ", "\n", 1).replace("facedb ", "\nfacedb ") for c in configs]
    ax.set_xticks(range(len(configs)), labels, fontsize=7)
    ax.set_ylabel("images / s (higher is better)")
    ax.set_title("End to end: decode + detect + align + embed", fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_similarity(distributions: dict[str, list[float]], path: Path) -> None:
    fig, ax = _figure()
    styles = {
        "real_genuine": ("#2ca02c", "-"),
        "synthetic_genuine": ("#2ca02c", "--"),
        "real_impostor": ("#d62728", "-"),
        "synthetic_impostor": ("#d62728", "--"),
    }
    for key, values in distributions.items():
        colour, line = styles[key]
        ax.hist(
            values,
            bins=60,
            range=(-0.3, 1.0),
            density=True,
            histtype="step",
            color=colour,
            linestyle=line,
            label=key.replace("_", " "),
        )
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    ax.set_title("Real (shared faces) and synthetic similarities", fontsize=10)
    ax.legend(fontsize=7)
    _save(fig, path)


def _servers(matching: dict[str, Any], size: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    label = f"{size['size']:,} faces"
    servers = [(size, f"{label}, shared_buffers {matching['shared_buffers']}")]
    if "tuned" in size:
        servers.append(
            (size["tuned"], f"{label}, shared_buffers {size['tuned']['shared_buffers']}")
        )
    return servers


def _matching_line(ax: Axes, queries: list[dict[str, Any]], label: str) -> None:
    xs = [q["p50_ms"] for q in queries]
    ys = [q["genuine_recall_at_1"] for q in queries]
    ax.plot(xs, ys, marker="o", label=label)
    for q in queries:
        ax.annotate(str(q["ef_search"]), (q["p50_ms"], q["genuine_recall_at_1"]), fontsize=7)


def plot_matching(matching: dict[str, Any], path: Path) -> None:
    """p50 latency against genuine recall@1, one line per gallery size, points = ef_search."""
    fig, ax = _figure()
    for size in matching["sizes"]:
        for server, label in _servers(matching, size):
            _matching_line(ax, server["queries"], label)
    ax.axvline(3.0, color="grey", linestyle=":", linewidth=1)
    ax.axhline(0.99, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("p50 ms per 1:N query (facedb transaction)")
    ax.set_ylabel("recall@1, genuine probes")
    ax.set_title("HNSW in PostgreSQL: latency and recall by ef_search", fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, path)
