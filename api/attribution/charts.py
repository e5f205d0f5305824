"""Charts of the weekly report, drawn on the server with matplotlib (Agg, no display) as PNG."""

from __future__ import annotations

import base64
import io
from functools import cache
from typing import Any

from api.attribution.selectors import STAGES

_BRAND = "#8a1c2b"


@cache
def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display), imported on the first chart.

    Imported here rather than at the top on purpose: matplotlib adds about 50 MB and half a second to
    every process that loads it, and every worker and web process imports this module (through the
    weekly summary) while only the report pages and the Monday summary ever draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """``png`` as a ``data:`` URI, to inline in the HTML report."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def roas_chart(report: dict[str, Any]) -> bytes:
    """ROAS per channel for the week (channels without cost are shown as 0 with a note)."""
    rows = [r for r in report["rows"] if r["cost_xaf"] or r["revenue_xaf"]]
    labels = [r["channel"] for r in rows] or ["(no data)"]
    values = [r["roas"] or 0 for r in rows] or [0]
    fig, ax = _pyplot().subplots(figsize=(7, 3.2))
    bars = ax.bar(labels, values, color=_BRAND)
    for bar, row in zip(bars, rows, strict=False):
        ax.annotate("no cost" if row["roas"] is None else f"{row['roas']:.1f}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
    ax.axhline(1, color="grey", linestyle="--", linewidth=0.8)
    ax.set_ylabel("ROAS (revenue / cost)")
    ax.set_title(f"ROAS per channel, week of {report['week_start']:%d %b %Y} ({report['model']})")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return _png(fig)


def funnel_chart(funnel: dict[str, Any]) -> bytes:
    """Contacts that entered each stage per week (grouped bars)."""
    weeks = funnel["weeks"]
    fig, ax = _pyplot().subplots(figsize=(7, 3.2))
    width = 0.8 / len(STAGES)
    for i, stage in enumerate(STAGES):
        ax.bar([w + i * width for w in range(len(weeks))], [row[stage] for row in weeks], width=width, label=stage)
    ax.set_xticks([w + 0.4 for w in range(len(weeks))], [f"{row['week_start']:%d %b}" for row in weeks], fontsize=8)
    ax.set_ylabel("contacts entering the stage")
    ax.set_title("Funnel per week")
    ax.legend(fontsize=7, ncol=3)
    return _png(fig)


def cohort_heatmap(cohorts: dict[str, Any]) -> bytes:
    """Retention by month since the first order, one line per cohort."""
    rows = cohorts["cohorts"]
    width = max((len(r["retention"]) for r in rows), default=1)
    matrix = [[(r["retention"][k] if k < len(r["retention"]) else float("nan")) for k in range(width)]
              for r in rows] or [[0.0]]
    fig, ax = _pyplot().subplots(figsize=(7, max(2.0, 0.35 * len(matrix) + 1)))
    image = ax.imshow(matrix, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(rows)), [f"{r['cohort']:%Y-%m} ({r['customers']})" for r in rows], fontsize=8)
    ax.set_xlabel("months since first order")
    ax.set_title("Cohort retention")
    fig.colorbar(image, ax=ax, fraction=0.03)
    return _png(fig)
