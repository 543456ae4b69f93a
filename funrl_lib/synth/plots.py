"""Figures for the synthesis notebooks: what the pool, the dialogs and the verifier look like at a glance.

Each function takes the plain dicts the stages already produce (``pool_stats``, ``dialog_stats``, a verification
report's ``to_dict()``), returns a matplotlib ``Figure`` and, given ``path``, also saves it as PNG. Every axis says
in words what it counts (rule names through :func:`funrl_lib.labels.label_for`, not as keys), and every bar starts
at zero. matplotlib is
imported lazily with the non-interactive Agg backend when no display backend is active (headless runs, CI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..labels import label_for

__all__ = ["plot_dialog_stats", "plot_pool_stats", "plot_tree", "plot_verify_report"]


def _plt():
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline", "inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig: Any, path: str | Path | None) -> Any:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def _bar(ax: Any, counts: Mapping[Any, float], title: str, *, horizontal: bool = False, color: str = "C0") -> None:
    labels = [str(k) for k in counts]
    values = list(counts.values())
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color=color)
    else:
        ax.bar(labels, values, color=color)
        _slant(ax)
    ax.set_title(title)


def _slant(ax: Any, rotation: int = 30) -> None:
    """Slanted x labels anchored at their right end, so long names sit under their bar instead of overlapping."""
    for label in ax.get_xticklabels():
        label.set(rotation=rotation, ha="right", rotation_mode="anchor")


def plot_tree(tree_counts: Mapping[str, int], path: str | Path | None = None):
    """Leaves (functionalities) per top-level domain of the API context tree (``{domain: leaves}``)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.22 * len(tree_counts))))
    ordered = dict(sorted(tree_counts.items(), key=lambda kv: -kv[1]))
    _bar(ax, ordered, f"API context tree: leaves per domain ({len(ordered)} domains)", horizontal=True)
    ax.set_xlabel("leaf functionalities")
    return _save(fig, path)


def plot_pool_stats(stats: Mapping[str, Any], path: str | Path | None = None):
    """Four panels from ``pool_stats``: APIs per domain, parameter types, nesting depth, evolution steps."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    per_domain = dict(sorted(stats["apis_per_domain"].items(), key=lambda kv: -kv[1]))
    _bar(axes[0][0], per_domain, f"APIs per domain ({stats['apis']} APIs, {stats['domains']} domains)")
    axes[0][0].tick_params(axis="x", rotation=90, labelsize=7)
    _bar(axes[0][1], stats["parameter_types"], "parameter types (every schema node)", color="C1")
    _bar(axes[1][0], {f"depth {k}": v for k, v in sorted(stats["nesting_depth"].items())}, "nesting depth per API",
         color="C2")
    _bar(axes[1][1], stats["evolution"], "evolution steps applied", color="C3")
    for ax, what in zip(axes.flat, ("APIs", "schema nodes", "APIs", "times applied")):
        ax.set_ylabel(what)
    fig.tight_layout()
    return _save(fig, path)


def plot_dialog_stats(stats: Mapping[str, Any], path: str | Path | None = None,
                      target_mix: Mapping[str, float] | None = None):
    """Dialog-type mix (realised, and the target when given), complexity histogram, complexity per type."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    types = stats["types"]
    n = max(1, stats["n"])
    ax = axes[0]
    xs = range(len(types))
    ax.bar([x - 0.2 for x in xs], [v / n for v in types.values()], width=0.4, label="realised")
    if target_mix:
        total = sum(target_mix.values()) or 1.0
        ax.bar([x + 0.2 for x in xs], [target_mix.get(t, 0) / total for t in types], width=0.4, label="target")
        ax.legend()
    ax.set_xticks(list(xs), list(types))
    _slant(ax)
    ax.set_title(f"dialog types ({stats['n']} dialogs)")
    ax.set_ylabel("share of the dialogs")
    hist = stats["complexity"]["histogram"]
    _bar(axes[1], hist, "complexity score", color="C1")
    bands = stats.get("bands", {})
    if bands:
        axes[1].set_xlabel("target bands " + ", ".join(f"{k} {v}" for k, v in bands["target"].items())
                           + f"; hit rate {bands['hit_rate']:.0%}")
    axes[1].set_ylabel("dialogs")
    _bar(axes[2], stats["complexity"]["by_type"], "mean complexity per type", color="C2")
    axes[2].set_ylabel("mean complexity score")
    fig.tight_layout()
    return _save(fig, path)


def plot_verify_report(report: Mapping[str, Any], path: str | Path | None = None):
    """Pass rate per rule (rule and model layer in two colours) and per layer next to ToolACE's reported rates."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 1.2]})
    rules = {n: r for n, r in report["rules"].items() if r.get("checked")}
    names = list(rules)
    rates = [rules[n]["passed"] / rules[n]["checked"] for n in names]
    colors = ["C0" if rules[n].get("layer") == "rule" else "C1" if rules[n].get("layer") == "model" else "C2"
              for n in names]
    ax1.barh([label_for(n) for n in names[::-1]], rates[::-1], color=colors[::-1])
    ax1.set_xlim(0, 1.0)  # from zero: a truncated axis makes a 2-point gap look like a 20-point one
    ax1.set_title("pass rate per rule (blue: rule layer, orange: model layer)")
    ax1.set_xlabel("share of the samples the rule checked that pass it")
    layers = [k for k in ("rule", "model", "final") if k in report["layers"]]
    ours = [report["layers"][k]["pass_rate"] or 0.0 for k in layers]
    ref = report.get("toolace_reference", {})
    xs = range(len(layers))
    ax2.bar([x - 0.2 for x in xs], ours, width=0.4, label="this run")
    ax2.bar([x + 0.2 for x in xs], [ref.get(k, 0.0) for k in layers], width=0.4, label="ToolACE (reported)")
    for x, v in zip(xs, ours):
        ax2.text(x - 0.2, v + 0.01, f"{v:.1%}", ha="center", fontsize=8)
    for x, k in zip(xs, layers):
        ax2.text(x + 0.2, ref.get(k, 0.0) + 0.01, f"{ref.get(k, 0.0):.1%}", ha="center", fontsize=8)
    ax2.set_xticks(list(xs), [{"rule": "rule layer", "model": "model layer", "final": "both (kept)"}.get(k, k)
                              for k in layers])
    ax2.set_ylim(0, 1.3)  # headroom for the legend above the bars
    ax2.set_ylabel("share of the samples that pass")
    ax2.set_title("pass rate per layer")
    ax2.legend(loc="upper left", fontsize=8)
    # the caveat belongs in the figure, not only in the text around it
    ax2.text(0.5, -0.16, "ToolACE: its own LLM-made data and defects;\nthis run: defects injected on purpose. "
             "Not like for like.", transform=ax2.transAxes, ha="center", va="top", fontsize=7, style="italic")
    fig.tight_layout()
    return _save(fig, path)
