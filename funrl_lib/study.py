"""The miniature of the paper's ablation: SFT (or the base model) vs GRPO vs EGPO, several seeds, on APIs never
seen in training.

    funrl study --config configs/tiny-cpu.yaml --seeds 0,1,2 --out outputs/study

Per seed (``<out>/seed-<N>``, the recipe with ``seed: N``): the rows are split **by API** (``data.holdout_by: api``;
the data themselves are the same for every seed, only training randomness changes), then the arms run as
``funrl sft`` / ``funrl train`` would (resumable), and each policy is evaluated. The arms (:func:`default_arms`):

* ``grpo.init: sft`` (the default): **SFT, GRPO, EGPO**, RL warm-started from this seed's SFT;
* ``grpo.init: base`` (the paper: RL straight from the instruct model): **BASE, GRPO, EGPO**, where BASE is the
  untrained base model (:func:`funrl_lib.train.models.base_model_path`, or the built tiny model) and SFT is not run.
  BASE is evaluated per seed like the trained arms (greedy decoding of a fixed model, so its interval collapses);
* ``--arms`` picks any subset of base, sft, grpo, egpo.

Each policy is evaluated on:

* **held-out synthetic rows**: greedy generation with the FunRL prompt, judged by
  :func:`funrl_lib.rewards.judge_completion` (exact-call accuracy = ``answer_ok``: calls that pass the BFCL checker,
  or no call where none is wanted; also the think-template rate and the binary reward), overall and per dialog type;
* **BFCL single-turn**: a stratified subset per category (``funrl bfcl generate --prompt funrl`` then ``evaluate``).

Every evaluation is written to ``<out>/results.jsonl`` as it finishes, so a re-run continues where it stopped. The
report (``report.md``, ``study.png``, ``summary.json``) gives mean and 95% interval over seeds (Student t with n − 1
degrees of freedom) per arm, overall, per dialog type and per BFCL category, as measured.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from pathlib import Path
from typing import Any, Sequence

from .evaluation_defaults import DEFAULT_EVAL

__all__ = ["ALL_ARMS", "ARMS", "default_arms", "evaluate_arms", "mean_ci", "parse_arms", "run_study",
           "study_caveats", "study_curves", "study_title", "summarize_results", "write_report"]

ALL_ARMS = ("base", "sft", "grpo", "egpo")
"""Every arm a study can have, in the order tables, charts and reports show them."""
ARMS = ("sft", "grpo", "egpo")
"""The arms of a recipe whose RL starts from SFT (``grpo.init: sft``)."""
BASE_ARMS = ("base", "grpo", "egpo")
"""The arms of a recipe whose RL starts from the base model (``grpo.init: base``), as in the paper."""
STUDY_TITLE = "Miniature study: SFT vs GRPO vs EGPO (tiny model, CPU)"
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


def _greedy_judge(model_dir: Path, rows: list[dict[str, Any]], max_new_tokens: int, *, generation_prefix: str = "",
                  prefilled_think: bool = False) -> list[dict[str, Any]]:
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
                    "template_ok": j.template_ok, "reward": j.answer_ok and j.template_ok})
    return out


def _done(results: Path) -> set[tuple]:
    if not results.exists():
        return set()
    keys = set()
    for line in results.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line: that evaluation runs again
        keys.add((r["seed"], r["arm"], r["suite"]))
    return keys


def _append(results: Path, record: dict[str, Any]) -> None:
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _ordered(arms: Sequence[str]) -> list[str]:
    return [a for a in ALL_ARMS if a in set(arms)]


def parse_arms(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"base,grpo,egpo"`` (or a list) -> the arms in :data:`ALL_ARMS` order; unknown or no arms are an error."""
    names = [a.strip().lower() for a in (text.split(",") if isinstance(text, str) else text) if a.strip()]
    unknown = sorted(set(names) - set(ALL_ARMS))
    if unknown or not names:
        raise ValueError(f"arms must be a comma list of {', '.join(ALL_ARMS)}, not {text!r}")
    return tuple(_ordered(names))


def default_arms(cfg: Any) -> tuple[str, ...]:
    """``base, grpo, egpo`` when RL starts from the base model (``grpo.init`` ``base`` or unset), else
    ``sft, grpo, egpo``."""
    return BASE_ARMS if cfg.grpo.init in (None, "base") else ARMS


def _base_model(cfg: Any) -> str:
    """What the BASE arm evaluates: the untrained model RL starts from (the built tiny model for backend tiny)."""
    from .train.models import base_model_path, tiny_model_dir
    if cfg.model.backend == "tiny":
        from .train.tiny import build_tiny
        return str(build_tiny(tiny_model_dir(cfg), cfg.model.tiny))
    return base_model_path(cfg)


def study_title(cfg: Any, arms: Sequence[str]) -> str:
    """The report title: the arms and the model."""
    versus = " vs ".join(a.upper() for a in _ordered(arms))
    if cfg.model.backend == "tiny":
        return f"Miniature study: {versus} (tiny model, CPU)"
    model = cfg.model.name_or_path
    return f"Study: {versus} ({cfg.name}: {model})" if model else f"Study: {versus} ({cfg.name})"


GENERIC_CAVEATS = """\
## What this study can and cannot tell

* **Seeds vary training only** (the base model, the data and the API split are fixed); the interval is over
  training randomness, not over data. A BASE arm is the same untrained model every seed, evaluated greedily, so its
  interval is 0.
* **Scale:** on a CPU a run has tens of RL steps ({steps} here per arm and seed), far fewer than the paper's; a
  difference between GRPO and EGPO at this length says little about a full run.
* **Format vs accuracy:** the binary reward needs both the think template and a correct call. `heldout/template_ok`
  is the format part of an effect (the template alone) and `heldout/answer_ok` is call accuracy (the calls
  themselves); the table shows both, so a gain in `reward` that comes only with `template_ok` is a format effect,
  not a better call.
"""


def study_caveats(cfg: Any) -> str:
    """:data:`STUDY_CAVEATS` for the tiny model, else :data:`GENERIC_CAVEATS` with the recipe's RL steps."""
    if cfg.model.backend == "tiny":
        return STUDY_CAVEATS
    return GENERIC_CAVEATS.format(steps=cfg.grpo.max_steps if cfg.grpo.max_steps and cfg.grpo.max_steps > 0
                                  else "an epoch of")


def evaluate_arms(finals: dict[str, Path | str], held: list[dict[str, Any]], results: str | Path, *, seed: int,
                  bfcl_dir: str | Path, max_new_tokens: int, bfcl_per_category: int = 5,
                  bfcl_categories: str = "single_turn", done: set[tuple] | None = None, progress: bool = False,
                  generation_prefix: str = "", prefilled_think: bool = False) -> None:
    """Evaluate each policy of ``finals`` (``{arm: model dir}``) greedily on the held-out rows and on a stratified
    BFCL subset (``bfcl_per_category`` entries per category, 0 skips it; generated into ``<bfcl_dir>/<arm>``), and
    append one record per (arm, suite) to ``results``. Records already in ``done`` (:func:`_done`) are skipped.
    ``generation_prefix`` and ``prefilled_think`` (the recipe's) apply to the held-out suite; the BFCL suite renders
    each arm's own saved template, so with a prefix only the trained arms get it there."""
    from .bfcl.evaluate import evaluate_results
    from .bfcl.generate import generate

    results, bfcl_dir = Path(results), Path(bfcl_dir)
    results.parent.mkdir(parents=True, exist_ok=True)
    done = _done(results) if done is None else done
    for arm, model_dir in finals.items():
        if (seed, arm, "heldout") not in done:
            judged = _greedy_judge(model_dir, held, max_new_tokens, generation_prefix=generation_prefix,
                                   prefilled_think=prefilled_think)
            _append(results, {"seed": seed, "arm": arm, "suite": "heldout", "rows": judged})
        if (seed, arm, "bfcl") not in done and bfcl_per_category:
            generate(str(model_dir), backend="hf", categories=bfcl_categories, limit=bfcl_per_category,
                     stratified=True, seed=0, prompt="funrl", batch_size=1, max_new_tokens=max_new_tokens,
                     temperature=0.0, model_name=arm, out=bfcl_dir, progress=progress)
            summary, _ = evaluate_results(bfcl_dir / arm)
            _append(results, {"seed": seed, "arm": arm, "suite": "bfcl",
                              "categories": {c: r["accuracy"] for c, r in summary["categories"].items()},
                              "summaries": {k: v["score"] for k, v in summary["summaries"].items()}})


def run_study(config: str | None, seeds: Sequence[int], out: str | Path, *, overrides: Sequence[str] = (),
              heldout_limit: int | None = DEFAULT_EVAL["heldout_limit"],
              bfcl_per_category: int = DEFAULT_EVAL["bfcl_per_category"],
              bfcl_categories: str = DEFAULT_EVAL["bfcl_categories"],
              max_new_tokens: int = DEFAULT_EVAL["max_new_tokens"],
              arms: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Run (or continue) the study; returns :func:`summarize_results` of everything in ``<out>/results.jsonl`` and
    writes the report. ``arms``: a subset of :data:`ALL_ARMS` (default :func:`default_arms` of the recipe). SFT runs
    when it is an arm, or when ``grpo.init`` is ``sft`` and an RL arm needs its warm start."""
    from .train.backend import prepare_backend
    from .train.config import load_config
    prepare_backend(load_config(config, overrides))  # Unsloth (backend unsloth) before trl/transformers/peft
    from .train.data import prepare_rows
    from .train.run import run_sft, run_train
    from transformers import AutoTokenizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    done = _done(results)
    cfg = None
    for seed in seeds:
        base = [*overrides, f"seed={seed}", f"output_dir={out / f'seed-{seed}'}", "data.holdout_by=api"]
        cfg = load_config(config, base)
        chosen = parse_arms(arms) if arms is not None else default_arms(cfg)
        finals: dict[str, Path | str] = {}
        if "base" in chosen:
            finals["base"] = _base_model(cfg)
        rl = [a for a in ("grpo", "egpo") if a in chosen]
        sft = None
        if "sft" in chosen or (rl and cfg.grpo.init == "sft"):
            sft = run_sft(cfg)
            if "sft" in chosen:
                finals["sft"] = sft
        for mode in rl:
            finals[mode] = run_train(dataclasses.replace(cfg, egpo=dataclasses.replace(cfg.egpo,
                                                                                       advantage_mode=mode)))
        # the held-out rows are the same for every arm; the SFT tokenizer, else the base model's
        tok = sft if sft is not None else finals.get("base") or _base_model(cfg)
        _, held, _ = prepare_rows(cfg, AutoTokenizer.from_pretrained(tok))
        evaluate_arms(finals, held[:heldout_limit] if heldout_limit else held, results, seed=seed,
                      bfcl_dir=out / f"seed-{seed}" / "bfcl", max_new_tokens=max_new_tokens,
                      bfcl_per_category=bfcl_per_category,
                      bfcl_categories=bfcl_categories, done=done, generation_prefix=cfg.model.generation_prefix,
                      prefilled_think=cfg.egpo.think_prefilled)
    summary = summarize_results(results)
    command = " ".join([f"funrl study --config {config}" if config else "funrl study",
                        f"--seeds {','.join(str(x) for x in seeds)} --out {out}",
                        *([f"--arms {','.join(parse_arms(arms))}"] if arms is not None else []),
                        *(f"--set {o}" for o in overrides)])
    present = [a for a in summary if summary[a]["metrics"]] or list(summary)
    if cfg is None:  # no seeds: title and caveats from the recipe as given
        cfg = load_config(config, overrides)
    study_curves(out)
    write_report(summary, out, command=command, title=study_title(cfg, present), caveats=study_caveats(cfg))
    return summary


def study_curves(out: str | Path, figure: str = "curves.png") -> Path | None:
    """The training curves of every seed's GRPO and EGPO runs overlaid (``<out>/seed-N/{grpo,egpo}/log.jsonl``:
    reward, CoT entropy, bonus, KL, length, think-template rate, capped share; one line style per seed), saved as
    ``<out>/<figure>``; None when no run has a log yet."""
    out = Path(out)
    logs = {}
    for seed_dir in sorted(out.glob("seed-*"), key=lambda p: int(p.name.split("-")[1]) if p.name[5:].isdigit() else 0):
        for mode in ("grpo", "egpo"):
            log = seed_dir / mode / "log.jsonl"
            if log.exists() and log.stat().st_size:
                logs[f"{mode} seed {seed_dir.name.split('-')[1]}"] = log
    if not logs:
        return None
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .train.plots import plot_training
    fig = plot_training(logs, out / figure, smooth=3)
    plt.close(fig)
    return out / figure


def summarize_results(results: str | Path, arms: Sequence[str] | None = None) -> dict[str, Any]:
    """Mean and 95% interval over seeds per arm: held-out exact-call accuracy (overall and per dialog type),
    template rate and reward; BFCL accuracy per category and per summary. The arms are those in ``results`` (in
    :data:`ALL_ARMS` order), or ``arms`` (an arm without records then has no metrics)."""
    records = [json.loads(line) for line in Path(results).read_text(encoding="utf-8").splitlines() if line.strip()]
    if arms is None:
        arms = _ordered({r["arm"] for r in records})
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


STUDY_CAVEATS = """\
## What this scale can and cannot tell

* **Can:** that the whole recipe runs end to end on APIs the model never saw, that the numbers are reproducible from
  one command, and whether the arms (SFT or the base model, GRPO, EGPO) differ *at this scale* beyond seed
  noise.
* **Cannot:** whether EGPO beats GRPO on a real model. The paper's ablation (v4 Fig. 6, same binary reward) has
  EGPO over GRPO by 2.7 points single-turn and 6.1 multi-turn for Qwen3-4B, with a CoT entropy of about
  0.05–0.2 nats where the cap min(λE, |A|/α) rarely binds. The tiny model has ~2.4M weights, 40 RL steps (one
  prompt × 8 rollouts each) and a CoT entropy of about 0.8–0.9 nats, so the cap binds far more often, and RL moves
  the policy so little (KL ~1e-4) that greedy answers barely change.
* **Seeds vary training only** (model initialisation is the same tiny model, the data and the API split are fixed);
  the interval is over training randomness, not over data.
* Accuracy on BFCL's real APIs at this scale comes almost entirely from abstaining (irrelevance); exact calls on
  unseen real APIs are beyond a model this small.
"""


def _cell(m: dict[str, Any] | None) -> str:
    if m is None:
        return "—"
    if m["n"] < 2:
        return f"{100 * m['mean']:.1f}"
    return f"{100 * m['mean']:.1f} ± {100 * m['ci95']:.1f} (n={m['n']})"


def metrics_table(summary: dict[str, Any], prefix: str = "") -> list[str]:
    """Markdown table rows (header included) of every metric starting with ``prefix``, one column per arm."""
    arms = [a for a in summary if summary[a].get("metrics")]
    keys = sorted({k for arm in arms for k in summary[arm]["metrics"] if k.startswith(prefix)})
    lines = ["| metric | " + " | ".join(a.upper() for a in arms) + " |", "|---|" + "---|" * len(arms)]
    for k in keys:
        lines.append(f"| {k[len(prefix):] or k} | " + " | ".join(_cell(summary[a]["metrics"].get(k)) for a in arms)
                     + " |")
    return lines


def write_report(summary: dict[str, Any], out: str | Path, *, title: str = STUDY_TITLE,
                 command: str | None = None, caveats: str | None = STUDY_CAVEATS, figure: str = "study.png") -> None:
    """``report.md``, ``summary.json`` and the bar chart ``figure`` for a :func:`summarize_results` summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    arms = [a for a in summary if summary[a].get("metrics")]  # the summary's order (summarize_results: ALL_ARMS)
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
