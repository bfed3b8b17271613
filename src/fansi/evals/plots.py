"""PNG plots of an eval, drawn with matplotlib's Agg backend (no display needed).

matplotlib is imported inside each function, so importing this module, and
``fansi --help``, stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fansi.evals.metrics import Bin

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float = 6.0, height: float = 4.5) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110)


def _save(fig: Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path)
    return path.name


def scaling(path: Path, series: Mapping[str, Sequence[tuple[float, float]]], *,
            title: str) -> str:
    """Accuracy against mean tokens per problem, one line per series.

    Args:
        path: The PNG to write.
        series: Name -> (tokens, accuracy) points, accuracy in [0, 1].
        title: The plot's title.

    Returns:
        The file's name, for the report.
    """
    fig = _figure()
    ax = fig.add_subplot()
    for name, points in series.items():
        ordered = sorted(points)
        ax.plot([p[0] for p in ordered], [100 * p[1] for p in ordered], marker="o", label=name)
    ax.set_xlabel("tokens per problem (prompt + completion, mean)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def reliability(path: Path, curves: Mapping[str, Sequence[Bin]], *, title: str) -> str:
    """A reliability diagram: accuracy against mean confidence per bin, with the diagonal."""
    fig = _figure(5.0, 5.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for name, bins in curves.items():
        filled = [b for b in bins if b.count and b.confidence is not None]
        ax.plot([b.confidence or 0.0 for b in filled], [b.accuracy or 0.0 for b in filled],
                marker="o", label=name)
        for b in filled:
            ax.annotate(str(b.count), (b.confidence or 0.0, b.accuracy or 0.0), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("confidence (mean in bin)")
    ax.set_ylabel("share correct")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    return _save(fig, path)


def confusion(path: Path, matrices: Mapping[str, Sequence[Sequence[int]]], *,
              rows: Sequence[str], columns: Sequence[str], title: str) -> str:
    """One count matrix per method, side by side (rows: truth, columns: verdict)."""
    fig = _figure(4.2 * len(matrices), 3.8)
    for index, (name, matrix) in enumerate(matrices.items(), start=1):
        ax = fig.add_subplot(1, len(matrices), index)
        ax.imshow(matrix, cmap="Blues")
        top = max((v for row in matrix for v in row), default=0)
        for r, row in enumerate(matrix):
            for c, value in enumerate(row):
                ax.text(c, r, str(value), ha="center", va="center",
                        color="white" if top and value > top / 2 else "black")
        ax.set_xticks(range(len(columns)), list(columns))
        ax.set_yticks(range(len(rows)), list(rows))
        ax.set_xlabel("verdict")
        ax.set_ylabel("label")
        ax.set_title(name)
    fig.suptitle(title)
    return _save(fig, path)


def grades(path: Path, grader: Sequence[float], pairs: Sequence[tuple[float, float]], *,
           title: str) -> str:
    """The grader's grades as a histogram, and (human, grader) pairs when there are any."""
    panels = 2 if pairs else 1
    fig = _figure(4.5 * panels, 4.0)
    ax = fig.add_subplot(1, panels, 1)
    ax.hist(list(grader), bins=[x - 0.5 for x in range(9)], rwidth=0.8)
    ax.set_xlabel("grade (0-7)")
    ax.set_ylabel("proofs")
    ax.set_title("grader")
    if pairs:
        ax2 = fig.add_subplot(1, panels, 2)
        ax2.scatter([p[0] for p in pairs], [p[1] for p in pairs], alpha=0.7)
        ax2.plot([0, 7], [0, 7], linestyle="--", color="grey")
        ax2.set_xlabel("human grade")
        ax2.set_ylabel("grader grade")
        ax2.set_title("agreement")
    fig.suptitle(title)
    return _save(fig, path)


__all__ = ["confusion", "grades", "reliability", "scaling"]
