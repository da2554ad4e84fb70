"""Small plotting helpers shared by the study figures (files, no windows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import write_atomic


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def band(ax: Any, df: Any, col: str, label: str | None = None, color: str = "#444", scale: float = 1.0) -> None:
    """Median line and 5-95% band over runs of ``col`` by year."""
    q = df.groupby("year")[col].quantile([0.05, 0.5, 0.95]).unstack() / scale
    ax.fill_between(q.index, q[0.05], q[0.95], color=color, alpha=0.25, lw=0)
    ax.plot(q.index, q[0.5], color=color, lw=2, label=label)


def observed(ax: Any, year: float, lo: float, hi: float, label: str, scale: float = 1.0) -> None:
    """An observed tolerance band as a red point with error bars."""
    mid = 0.5 * (lo + hi) / scale
    ax.errorbar([year], [mid], yerr=[[mid - lo / scale], [hi / scale - mid]], fmt="o", color="crimson",
                capsize=3, label=label)


def save(fig: Any, path: Path, dpi: int = 110) -> None:
    """Lay out, write atomically (a published figure is whole or untouched) and close ``fig``."""
    plt = pyplot()
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png"))
    plt.close(fig)
