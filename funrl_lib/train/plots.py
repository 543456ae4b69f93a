"""Training curves from a run's ``log.jsonl`` files: reward, CoT entropy, bonus, KL and completion length against
step, with GRPO and EGPO overlaid when both exist (and the SFT loss when there is one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .logs import read_log

__all__ = ["PANELS", "curves", "plot_training"]

# (log key, title) per panel; TRL's own metric names where TRL logs them.
PANELS: Sequence[tuple[str, str]] = (
    ("reward", "reward (funrl_binary)"),
    ("egpo/cot_entropy", "CoT entropy E (nats/token)"),
    ("egpo/bonus", "entropy bonus min(λE, |A|/α)"),
    ("kl", "KL to the reference"),
    ("completions/mean_length", "completion length (tokens)"),
    ("egpo/no_think_frac", "share without a think span"),
    ("funrl/think_template_ok", "think-template rate"),
    ("egpo/capped_frac", "share of bonuses the cap |A|/α limited"),
)
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


def _smooth(ys: list[float], k: int) -> list[float]:
    if k <= 1 or len(ys) < 2 * k:
        return ys
    out, acc = [], 0.0
    for i, y in enumerate(ys):
        acc += y
        if i >= k:
            acc -= ys[i - k]
        out.append(acc / min(i + 1, k))
    return out


def plot_training(run_dir: str | Path | dict[str, str | Path], out: str | Path | None = None, *,
                  smooth: int = 5) -> Any:
    """A figure of the run's curves. ``run_dir``: a run directory (reads ``grpo/``, ``egpo/`` and ``sft/``) or a
    ``{label: log.jsonl}`` mapping (e.g. the same mode of two runs). Raw values faint, a moving mean of ``smooth``
    steps on top. Saved to ``out`` when given."""
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
    panels = list(PANELS) + ([("loss", "SFT loss")] if sft else [])
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, panels):
        sources = {"sft": sft} if key == "loss" else logs
        for label, log in sources.items():
            xs, ys = curves(log, key)
            if not xs:
                continue
            color = COLORS.get(label.split()[0])  # "egpo seed 1" is drawn in EGPO's colour
            style = _LINESTYLES[int(label.split()[-1]) % len(_LINESTYLES)] if label.split()[-1].isdigit() else "-"
            ax.plot(xs, ys, color=color, alpha=0.25, linewidth=1, linestyle=style)
            ax.plot(xs, _smooth(ys, smooth), color=color, label=label.upper(), linewidth=1.8, linestyle=style)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    return fig
