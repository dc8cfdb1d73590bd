"""Figures that need no Optuna study: accuracy against the distillation iteration (one study's trials,
or the best trials of several searches side by side), and synthetic sets at the start, half-way and the
end of a run. Best-effort, like every figure: None when there is nothing to draw."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from dd_tune.records import TrialRecord


def pyplot() -> Any:
    """matplotlib's pyplot on the headless Agg backend (cluster nodes and CI have no display), imported
    when a plot is drawn: commands that never plot do not pay for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


Curve = Sequence[Sequence[float]]  # [(iteration, accuracy), ...]


def search_curves(rows: Sequence[TrialRecord], marked: dict[str, str], path: Path, title: str) -> str | None:
    """Every trial's proxy accuracy against the distillation iteration (thin), the ``marked`` trials
    (e.g. the chosen one and the reference defaults) in bold; two labels of one trial become one line
    (``chosen = reference defaults``), so neither hides the other."""
    by_trial: dict[str, Curve] = {r.trial: r.history for r in rows}
    labels: dict[str, list[str]] = {}
    for label, trial in marked.items():
        labels.setdefault(trial, []).append(label)
    series = {" = ".join(names): by_trial.get(trial, []) for trial, names in labels.items()}
    rest = [h for t, h in by_trial.items() if h and t not in marked.values()]
    faint = {label: (rest if k == 0 else []) for k, label in enumerate(series)}
    if not series:
        series, faint = {"trials": []}, {"trials": rest}
    if not any(series.values()) and not rest:
        return None
    diverged = [(float(r.iteration or 0), 0.0) for r in rows if r.diverged]
    return curves_plot(series, faint, path, title, diverged)


def curves_plot(series: Mapping[str, Curve], faint: Mapping[str, Sequence[Curve]], path: Path,
                title: str, diverged: list[tuple[float, float]] | None = None) -> str | None:
    """Validation accuracy vs distillation iteration: one bold line per entry of ``series`` (e.g. the best
    trial from real init and from noise), the other trials of each as thin lines of the same colour (a
    trial stopped after one report as a dot: a line of one point draws nothing); ``diverged`` trials as
    red crosses at (iteration, 0). None when there is nothing to draw (best-effort, like every figure)."""
    if not any(series.values()) and not any(any(v) for v in faint.values()):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for (label, points), (_, others) in zip(series.items(), faint.items()):
        line = ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", lw=2,
                       label=label if points else None)[0]
        for other in others:
            ax.plot([p[0] for p in other], [p[1] for p in other], lw=0.8, alpha=0.35, color=line.get_color(),
                    marker="." if len(other) == 1 else None)
    if diverged:
        ax.scatter([d[0] for d in diverged], [d[1] for d in diverged], marker="x", color="tab:red",
                   label=f"diverged ({len(diverged)})", zorder=3)
    ax.set_xlabel("distillation iteration")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def progress_figure(progress: dict[str, dict[str, str]], path: Path) -> str | None:
    """Sets side by side at iteration 0, half-way and the end: one row per entry of ``progress``
    (label -> {iteration: png of the set}), as the report's slides showed noise- and real-init sets."""
    from PIL import Image

    rows = {label: pics for label, pics in progress.items() if pics}
    if not rows:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), 3, figsize=(12, 4.2 * len(rows)), squeeze=False)
    for ax_row, (label, pics) in zip(axes, rows.items()):
        its = sorted(int(i) for i in pics)
        picks = [its[0], min(its, key=lambda i: abs(i - its[-1] / 2)), its[-1]]
        for ax, it in zip(ax_row, picks):
            ax.imshow(Image.open(pics[str(it)]))
            ax.set_title(f"{label}, iteration {it}")
            ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)

