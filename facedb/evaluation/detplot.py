"""A DET plot (FNIR against FPIR, both on log scales, one curve per gallery size) as
a self-contained SVG file: no plotting library needed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from facedb.evaluation.openset import SizeResult

WIDTH, HEIGHT, PAD = 640, 480, 60
X_RANGE = (1e-3, 1.0)  # FPIR
Y_RANGE = (1e-3, 1.0)  # FNIR
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _x(value: float) -> float:
    lo, hi = (math.log10(v) for v in X_RANGE)
    v = math.log10(min(max(value, X_RANGE[0]), X_RANGE[1]))
    return PAD + (v - lo) / (hi - lo) * (WIDTH - 2 * PAD)


def _y(value: float) -> float:
    lo, hi = (math.log10(v) for v in Y_RANGE)
    v = math.log10(min(max(value, Y_RANGE[0]), Y_RANGE[1]))
    return HEIGHT - PAD - (v - lo) / (hi - lo) * (HEIGHT - 2 * PAD)


def det_svg(sizes: Sequence[SizeResult], title: str) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for decade in (1e-3, 1e-2, 1e-1, 1.0):
        x, y = _x(decade), _y(decade)
        parts.append(
            f'<line x1="{x:.1f}" y1="{PAD}" x2="{x:.1f}" y2="{HEIGHT - PAD}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{decade:g}</text>'
            f'<line x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{PAD - 6}" y="{y + 4:.1f}" text-anchor="end">{decade:g}</text>'
        )
    parts.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 16}" text-anchor="middle">FPIR (strangers '
        "accepted as someone)</text>"
        f'<text x="16" y="{HEIGHT / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {HEIGHT / 2})">FNIR (enrolled people not identified)</text>'
    )
    if sizes and all(fn <= 0 for size in sizes for _, _, fn in size.det):
        # A log scale has no 0: say so rather than draw lines along the bottom edge.
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="14">'
            "FNIR is 0 at every threshold measured: every enrolled person was found, "
            "nothing to draw on a log scale</text>"
        )
    for i, size in enumerate(sizes):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(f"{_x(fp):.1f},{_y(fn):.1f}" for _, fp, fn in size.det)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        parts.append(
            f'<text x="{WIDTH - PAD - 4}" y="{PAD + 16 + 16 * i}" text-anchor="end" '
            f'fill="{colour}">{size.persons} people</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
