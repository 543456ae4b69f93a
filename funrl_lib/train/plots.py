"""Training curves from a run's ``log.jsonl`` files: reward, CoT entropy, bonus, KL and completion length against
step, with GRPO and EGPO overlaid when both exist (and the SFT loss when there is one).

What a reader can trust in them (issue 18): every panel is titled in words with its unit (:func:`funrl_lib.labels.
label_for`, never the log key); each logged step is a dot and the line is a trailing mean over the last ``smooth``
steps, which the figure says. The training prompts come in a fixed order, so a step's value also depends on which
prompts it drew: the dots show that spread, and the figure says it. One line per run and seed, and no error bars or
bands (one seed gives no spread to draw). Every y axis shows 0 (shares run from 0 to 1), and steps start at 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..labels import NONNEGATIVE, SHARES, label_for
from .logs import read_log

__all__ = ["PANELS", "curves", "label_for", "plot_training", "trailing_mean"]

# (log key, panel title) per panel; TRL's own metric names where TRL logs them.
PANEL_KEYS = ("reward", "egpo/cot_entropy", "egpo/bonus", "kl", "completions/mean_length", "egpo/no_think_frac",
              "funrl/think_template_ok", "egpo/capped_frac")
PANELS: Sequence[tuple[str, str]] = tuple((key, label_for(key)) for key in PANEL_KEYS)
COLORS = {"grpo": "tab:blue", "egpo": "tab:orange", "sft": "tab:gray"}
_LINESTYLES = ("-", "--", ":", "-.")  # one per seed when a label ends in the seed


def curves(log: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric (training log entries only)."""
    xs, ys = [], []
    for entry in log:
        if key in entry and isinstance(entry[key], (int, float)) and "train_runtime" not in entry:
            xs.append(int(entry.get("step", len(xs))))
            ys.append(float(entry[key]))
    return xs, ys


def trailing_mean(ys: Sequence[float], k: int) -> list[float]:
    """The mean of each value and the ``k - 1`` before it (fewer at the start, where there are fewer): a step's
    smoothed value uses no later step."""
    out, acc = [], 0.0
    for i, y in enumerate(ys):
        acc += y
        if i >= k:
            acc -= ys[i - k]
        out.append(acc / min(i + 1, max(k, 1)))
    return out


def _legend_label(label: str) -> str:
    """"egpo seed 1" -> "EGPO seed 1"."""
    first, _, rest = label.partition(" ")
    return first.upper() + (f" {rest}" if rest else "")


def _axes_from_zero(ax: Any, key: str) -> None:
    """Shares from 0 to 1; other metrics with 0 on the axis (from 0 when they cannot be negative); steps from 0."""
    ax.set_xlim(left=0)
    if key in SHARES:
        ax.set_ylim(0, 1.02)
        return
    lo, hi = ax.get_ylim()
    if key in NONNEGATIVE or lo >= 0:
        ax.set_ylim(0, max(hi * 1.05, 1e-9))  # a little room above the highest dot
    elif hi <= 0:
        ax.set_ylim(lo, 0)


def plot_training(run_dir: str | Path | dict[str, str | Path], out: str | Path | None = None, *,
                  smooth: int = 5) -> Any:
    """A figure of the run's curves. ``run_dir``: a run directory (reads ``grpo/``, ``egpo/`` and ``sft/``) or a
    ``{label: log.jsonl}`` mapping (e.g. the same mode of two runs, or seeds: one line each). Each logged step a
    dot, a trailing mean over ``smooth`` steps as the line; the figure's caption says both. Saved to ``out`` when
    given."""
    import matplotlib
    if out is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if isinstance(run_dir, dict):
        logs = {label: read_log(path) for label, path in run_dir.items()}
    else:
        root = Path(run_dir)
        logs = {m: read_log(root / m / "log.jsonl") for m in ("grpo", "egpo")}
    logs = {k: v for k, v in logs.items() if v}
    sft = [] if isinstance(run_dir, dict) else read_log(Path(run_dir) / "sft" / "log.jsonl")
    if not logs and not sft:
        raise FileNotFoundError(f"no log.jsonl under {run_dir} (sft/, grpo/, egpo/)")
    smooth = max(1, int(smooth))
    panels = list(PANELS) + ([("loss", label_for("loss"))] if sft else [])
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows + 0.4), squeeze=False)
    for ax, (key, title) in zip(axes.flat, panels):
        sources = {"sft": sft} if key == "loss" else logs
        for label, log in sources.items():
            xs, ys = curves(log, key)
            if not xs:
                continue
            color = COLORS.get(label.split()[0])  # "egpo seed 1" is drawn in EGPO's colour
            style = _LINESTYLES[int(label.split()[-1]) % len(_LINESTYLES)] if label.split()[-1].isdigit() else "-"
            ax.plot(xs, ys, color=color, alpha=0.35, marker=".", markersize=4, linestyle="none")
            ax.plot(xs, trailing_mean(ys, smooth), color=color, label=_legend_label(label), linewidth=1.8,
                    linestyle=style)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(label_for("step"), fontsize=8)
        ax.grid(alpha=0.3)
        if ax.get_lines():
            _axes_from_zero(ax, key)
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    line = "each step itself" if smooth == 1 else f"the mean of the last {smooth} steps (trailing)"
    fig.suptitle(f"Dots: each logged step (its mean over the step's completions). Lines: {line}.\n"
                 "Prompts come in a fixed order, so step-to-step changes mix learning with which prompts a step drew. "
                 "One line per run and seed; no error bars.", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    return fig
