"""Evaluating trained policies, as ``funrl demo`` (:mod:`funrl_lib.pipeline`) and ``funrl study``
(:mod:`funrl_lib.study`) both do: the held-out greedy judge, BFCL, the result records and their summary.

Each policy (an *arm*: ``{arm: model dir}``, as :func:`funrl_lib.runs.train_arms` returns) is evaluated on

* **held-out synthetic rows** (:func:`heldout_rows`: APIs never seen in training when the rows are split by API):
  greedy generation with the FunRL prompt, judged by :func:`funrl_lib.rewards.judge_completion` as the binary reward
  of FunRL (Eq. 2) judges a rollout: ``answer_ok`` is the exact-call accuracy (the calls pass the BFCL checker, or
  no call where none is wanted), ``template_ok`` the think template, ``reward`` both;
* **BFCL v4**: a stratified subset per category (``funrl bfcl generate --prompt funrl`` then ``evaluate``).

**Result records**: one JSON object a line in ``results.jsonl``, appended as each evaluation finishes, so a re-run
continues where a crash stopped it (:func:`done_keys`: ``(seed, arm, suite)`` identifies a record)::

    {"seed": 0, "arm": "sft", "suite": "heldout", "rows": [{"id", "type", "answer_ok", "template_ok", "reward"}]}
    {"seed": 0, "arm": "sft", "suite": "bfcl", "categories": {"simple_python": 0.4}, "summaries": {"live": null}}

:func:`summarize_results` gives the mean and 95% interval over seeds per arm and metric (Student t with n − 1
degrees of freedom); :func:`metrics_table`, :func:`write_table` and :func:`write_report` show it.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Sequence

from .runs import ordered_arms, rows_tokenizer
from .train.logs import read_log  # any JSONL file: the records, a torn line skipped

__all__ = ["bfcl_record", "done_keys", "evaluate_arms", "evaluate_recipe", "greedy_judge", "heldout_record",
           "heldout_rows", "row_digest", "mean_ci", "metrics_table", "rounded_metrics", "summarize_results", "write_report", "write_table"]

# two-sided 97.5% quantiles of Student's t for n - 1 = 1..10 degrees of freedom (scipy.stats.t.ppf(0.975, df))
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% interval) of per-seed values; the half-width is 0 for a single value."""
    values = list(values)
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, 0.0
    t = _T975.get(len(values) - 1, 1.96)
    return m, t * statistics.stdev(values) / math.sqrt(len(values))


# ---------------------------------------------------------------------------------------------------------------
# Running the evaluations
# ---------------------------------------------------------------------------------------------------------------

def heldout_rows(cfg: Any, finals: dict[str, Path | str], limit: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` (all with None or 0) held-out rows of the recipe's split, the same for every arm; the
    split is cached in the run directory by training, and read with :func:`funrl_lib.runs.rows_tokenizer`."""
    from transformers import AutoTokenizer

    from .train.data import prepare_rows
    _, held, _ = prepare_rows(cfg, AutoTokenizer.from_pretrained(rows_tokenizer(cfg, finals)))
    return held[:limit] if limit else held


def greedy_judge(model_dir: Path | str, rows: list[dict[str, Any]], max_new_tokens: int, *,
                 generation_prefix: str = "", prefilled_think: bool = False) -> list[dict[str, Any]]:
    """Greedy answers of one policy on ``rows``, judged as the reward does. ``generation_prefix``: the recipe's
    ``model.generation_prefix``, put into every arm's chat template (a trained arm's saved template has it already;
    the base model's does not), so that all arms are asked the same way."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .prompts import prefill_generation_prompt
    from .rewards import judge_completion, parse_ground_truth
    from .tools import load_tools

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if generation_prefix:
        tokenizer.chat_template = prefill_generation_prompt(tokenizer.chat_template, generation_prefix)
    # a LoRA adapter directory loads on its base model (transformers + peft)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto").to(device).eval()
    out = []
    for row in rows:  # one at a time: on a CPU, batching long prompts is slower (benchmarks/bfcl_eval_speed.py)
        enc = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True).to(device)
        with torch.no_grad():
            ids = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens,
                                 pad_token_id=tokenizer.pad_token_id)
        text = tokenizer.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        tools = load_tools(row["tools"])
        j = judge_completion(text, tools, parse_ground_truth(row["ground_truth"], tools), row.get("category"),
                             prefilled_think=prefilled_think)
        out.append({"id": row["id"], "type": row.get("type"), "answer_ok": j.answer_ok,
                    "template_ok": j.template_ok, "reward": j.answer_ok and j.template_ok,
                    "digest": row_digest(row)})
    return out


def row_digest(row: dict[str, Any]) -> str:
    """A short digest of what a held-out row asks (prompt, tools, reference), stored beside each judged row: two runs
    whose rows have one id but different text (data made by another version of funrl) are told apart."""
    from .io import stable_digest
    return stable_digest(json.dumps([row.get("prompt"), row.get("tools"), row.get("ground_truth")],
                                    sort_keys=True, default=str))[:6].hex()


def heldout_record(seed: int, arm: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of one arm's held-out evaluation (``rows``: :func:`greedy_judge`'s)."""
    return {"seed": seed, "arm": arm, "suite": "heldout", "rows": rows}


def bfcl_record(seed: int, arm: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The record of one arm's BFCL evaluation (``summary``: :func:`funrl_lib.bfcl.evaluate.evaluate_results`')."""
    return {"seed": seed, "arm": arm, "suite": "bfcl",
            "categories": {c: r["accuracy"] for c, r in summary["categories"].items()},
            "summaries": {k: v["score"] for k, v in summary["summaries"].items()}}


def done_keys(results: str | Path) -> set[tuple]:
    """``(seed, arm, suite)`` of every record already in ``results``; a torn line (a kill mid-write) is skipped, so
    that evaluation runs again."""
    return {(r["seed"], r["arm"], r["suite"]) for r in read_log(results)}


def _append(results: Path, record: dict[str, Any]) -> None:
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def evaluate_arms(finals: dict[str, Path | str], held: list[dict[str, Any]], results: str | Path, *, seed: int,
                  bfcl_dir: str | Path, max_new_tokens: int, bfcl_per_category: int = 5,
                  bfcl_categories: str = "single_turn", done: set[tuple] | None = None, progress: bool = False,
                  generation_prefix: str = "", prefilled_think: bool = False) -> None:
    """Evaluate each policy of ``finals`` (``{arm: model dir}``) greedily on the held-out rows and on a stratified
    BFCL subset (``bfcl_per_category`` entries per category, 0 skips it; generated into ``<bfcl_dir>/<arm>``), and
    append one record per (arm, suite) to ``results``. Records already in ``done`` (:func:`done_keys`, read from
    ``results`` when None) are skipped. ``generation_prefix`` and ``prefilled_think`` (the recipe's) apply to the
    held-out suite; the BFCL suite renders each arm's own saved template, so with a prefix only the trained arms get
    it there."""
    from .bfcl.evaluate import evaluate_results
    from .bfcl.generate import generate

    results, bfcl_dir = Path(results), Path(bfcl_dir)
    results.parent.mkdir(parents=True, exist_ok=True)
    done = done_keys(results) if done is None else done
    for arm, model_dir in finals.items():
        if (seed, arm, "heldout") not in done:
            judged = greedy_judge(model_dir, held, max_new_tokens, generation_prefix=generation_prefix,
                                  prefilled_think=prefilled_think)
            _append(results, heldout_record(seed, arm, judged))
        if (seed, arm, "bfcl") not in done and bfcl_per_category:
            generate(str(model_dir), backend="hf", categories=bfcl_categories, limit=bfcl_per_category,
                     stratified=True, seed=0, prompt="funrl", batch_size=1, max_new_tokens=max_new_tokens,
                     temperature=0.0, model_name=arm, out=bfcl_dir, progress=progress)
            summary, _ = evaluate_results(bfcl_dir / arm)
            _append(results, bfcl_record(seed, arm, summary))


def evaluate_recipe(cfg: Any, finals: dict[str, Path | str], results: str | Path, bfcl_dir: str | Path, *,
                    heldout_limit: int | None, bfcl_per_category: int, bfcl_categories: str, max_new_tokens: int,
                    done: set[tuple] | None = None, progress: bool = False) -> int:
    """:func:`evaluate_arms` for the arms one recipe trained (seed ``cfg.seed``), on its first ``heldout_limit``
    held-out rows, asked with the recipe's ``model.generation_prefix`` and ``egpo.think_prefilled``; the other
    options are :data:`funrl_lib.evaluation_defaults.DEFAULT_EVAL`'s. Returns the number of held-out rows."""
    held = heldout_rows(cfg, finals, heldout_limit)
    evaluate_arms(finals, held, results, seed=cfg.seed, bfcl_dir=bfcl_dir, max_new_tokens=max_new_tokens,
                  bfcl_per_category=bfcl_per_category, bfcl_categories=bfcl_categories, done=done,
                  progress=progress, generation_prefix=cfg.model.generation_prefix,
                  prefilled_think=cfg.egpo.think_prefilled)
    return len(held)


# ---------------------------------------------------------------------------------------------------------------
# Summaries, tables, reports
# ---------------------------------------------------------------------------------------------------------------

def summarize_results(results: str | Path, arms: Sequence[str] | None = None) -> dict[str, Any]:
    """Mean and 95% interval over seeds per arm: held-out exact-call accuracy (overall and per dialog type),
    template rate and reward; BFCL accuracy per category and per summary. The arms are those in ``results`` (in
    :data:`funrl_lib.runs.ALL_ARMS` order), or ``arms`` (an arm without records then has no metrics)."""
    records = read_log(results)  # a torn last line (a kill mid-write) is skipped, as done_keys skips it
    if arms is None:
        arms = ordered_arms({r["arm"] for r in records})
        arms += sorted({r["arm"] for r in records} - set(arms))  # an arm of another name: after the known ones
    table: dict[str, dict[str, list[float]]] = {arm: {} for arm in arms}
    seeds: dict[str, set[int]] = {arm: set() for arm in arms}
    for r in records:
        if r["arm"] not in table:
            continue
        metrics = table[r["arm"]]
        seeds[r["arm"]].add(r["seed"])
        if r["suite"] == "heldout":
            rows = r["rows"]
            if not rows:
                continue
            for key in ("answer_ok", "template_ok", "reward"):
                metrics.setdefault(f"heldout/{key}", []).append(statistics.fmean(float(x[key]) for x in rows))
            for t in sorted({x["type"] for x in rows}):
                sub = [float(x["answer_ok"]) for x in rows if x["type"] == t]
                metrics.setdefault(f"heldout/type/{t}", []).append(statistics.fmean(sub))
        else:
            for c, acc in r["categories"].items():
                metrics.setdefault(f"bfcl/{c}", []).append(acc)
            for k, v in r["summaries"].items():
                if v is not None:
                    metrics.setdefault(f"bfcl/[{k}]", []).append(v)
    return {arm: {"seeds": sorted(seeds[arm]),
                  "metrics": {k: {"mean": mean_ci(v)[0], "ci95": mean_ci(v)[1], "n": len(v), "values": v}
                              for k, v in sorted(table[arm].items())}}
            for arm in arms}


def _shown_arms(summary: dict[str, Any]) -> list[str]:
    return [a for a in summary if summary[a].get("metrics")]  # the summary's order (summarize_results: ALL_ARMS)


def rounded_metrics(summary: dict[str, Any], prefix: str = "") -> dict[str, dict[str, dict[str, Any]]]:
    """``{metric: {arm: {"mean", "n"[, "ci95"]}}}`` for every metric starting with ``prefix``, in % rounded to 0.1;
    ``ci95`` (the half-width of the 95% interval) only where there are two seeds or more. What
    :func:`metrics_table` and :func:`write_table` show."""
    arms = _shown_arms(summary)
    keys = sorted({k for arm in arms for k in summary[arm]["metrics"] if k.startswith(prefix)})
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for k in keys:
        out[k] = {}
        for a in arms:
            m = summary[a]["metrics"].get(k)
            if m is not None:
                out[k][a] = {"mean": round(100 * m["mean"], 1), "n": m["n"],
                             **({"ci95": round(100 * m["ci95"], 1)} if m["n"] >= 2 else {})}
    return out


def metric_cell(m: dict[str, Any] | None) -> str:
    """One table cell of a :func:`rounded_metrics` entry: the mean, with ``± ci95 (n=N)`` where there is an interval;
    a dash for a metric the arm lacks."""
    if m is None:
        return "—"
    if "ci95" not in m:
        return f"{m['mean']:.1f}"
    return f"{m['mean']:.1f} ± {m['ci95']:.1f} (n={m['n']})"


def metrics_table(summary: dict[str, Any], prefix: str = "") -> list[str]:
    """Markdown table rows (header included) of every metric starting with ``prefix``, one column per arm."""
    arms = _shown_arms(summary)
    lines = ["| metric | " + " | ".join(a.upper() for a in arms) + " |", "|---|" + "---|" * len(arms)]
    for k, cells in rounded_metrics(summary, prefix).items():
        lines.append(f"| {k[len(prefix):] or k} | " + " | ".join(metric_cell(cells.get(a)) for a in arms) + " |")
    return lines


def _seeds(summary: dict[str, Any]) -> list[int]:
    return sorted({s for a in _shown_arms(summary) for s in summary[a]["seeds"]})


def write_table(summary: dict[str, Any], out: str | Path, *, title: str = "Results") -> tuple[Path, Path]:
    """``<out>/table.md`` (the markdown table of :func:`metrics_table`, with the seeds) and ``<out>/table.json``
    (the same numbers: :func:`rounded_metrics`, the arms and the seeds); returns both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = _seeds(summary)
    several = len(seeds) > 1
    spread = ("mean ± half-width of the 95% interval over seeds (Student t), n seeds" if several
              else "one seed, so no spread")
    lines = [f"# {title}", "",
             f"Seed{'s' if several else ''} {', '.join(str(s) for s in seeds)}: {spread}. Accuracy in %, rounded "
             "to 0.1. `heldout/answer_ok` is the exact-call accuracy on held-out rows; `bfcl/[...]` rows are BFCL v4 "
             "summaries over the categories evaluated.", "", *metrics_table(summary), ""]
    (out / "table.md").write_text("\n".join(lines), encoding="utf-8")
    data = {"title": title, "seeds": seeds, "unit": "%", "spread": "ci95" if several else None,
            "arms": _shown_arms(summary), "metrics": rounded_metrics(summary)}
    (out / "table.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return out / "table.md", out / "table.json"


def write_report(summary: dict[str, Any], out: str | Path, *, title: str, command: str | None = None,
                 caveats: str | None = None, figure: str = "evaluation.png") -> None:
    """``report.md``, ``summary.json`` and the bar chart ``figure`` for a :func:`summarize_results` summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    arms = _shown_arms(summary)
    n_seeds = max((len(summary[a]["seeds"]) for a in arms), default=0)
    spread = "Mean ± 95% interval over seeds (Student t); " if n_seeds > 1 else "One seed, so no interval; "
    lines = [f"# {title}", ""]
    if command:
        lines += ["Reproduce with:", "", "```bash", command, "```", ""]
    lines += [spread + "accuracy in %. Held-out rows use APIs never seen in training (split by API). `answer_ok` = "
              "exact-call accuracy (calls pass the BFCL checker, or no call where none is wanted); `reward` also "
              "needs the think template. `bfcl/[...]` rows are BFCL v4 summaries over the categories evaluated.",
              "", f"![bar chart]({figure})", "", *metrics_table(summary), ""]
    if (out / "curves.png").exists():
        lines += ["Training curves of every seed's GRPO and EGPO runs (one line style per seed; faint: raw, solid: "
                  "moving mean):", "", "![training curves](curves.png)", ""]
    if caveats:
        lines += [caveats]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    keys = sorted({k for arm in arms for k in summary[arm]["metrics"]})
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return
    shown = [k for k in keys if k.startswith("heldout/") or k.startswith("bfcl/[")]
    if not shown:
        return
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(shown) + 2), 3.8))
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        ms = [summary[arm]["metrics"].get(k, {"mean": 0.0, "ci95": 0.0}) for k in shown]
        xs = [x + i * width for x in range(len(shown))]
        # an interval only from >= 2 seeds; with one seed no error bar is drawn at all
        errs = {"yerr": [100 * m["ci95"] for m in ms], "capsize": 3} if n_seeds > 1 else {}
        ax.bar(xs, [100 * m["mean"] for m in ms], width, label=arm.upper(), **errs)
        for x, m in zip(xs, ms):  # the seeds themselves: with n = 3 the interval says less than the points
            ax.plot([x] * len(m.get("values", [])), [100 * v for v in m.get("values", [])], "k.", markersize=4)
    ax.set_xticks([x + width * (len(arms) - 1) / 2 for x in range(len(shown))])
    ax.set_xticklabels(shown, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)  # accuracies; a t-interval over 3 seeds can reach past 0 or 100, and is clipped here
    ax.set_title(" vs ".join(a.upper() for a in arms) + (": mean, 95% interval (clipped to 0-100) and each seed (dots)"
                                          if n_seeds > 1 else " (one seed)"), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / figure, dpi=110)
    plt.close(fig)
