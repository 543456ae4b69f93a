"""``funrl demo`` (``make demo``): the whole pipeline on one machine, offline, with the embedded defaults.

    funrl demo --config configs/tiny-cpu.yaml --out outputs/demo

Stages (each one resumable; a re-run continues where a crash or Ctrl-C stopped it):

1. **pool**: an API pool grown from the domain tree (ToolACE's API synthesis; programmatic backend);
2. **dialogs**: single/parallel/multiple/dependent/irrelevance/clarify/multi-turn dialogs over the pool;
3. **verify**: ``corrupt_rate`` of the dialogs damaged with the defects an LLM generator makes
   (:mod:`funrl_lib.synth.corrupt`), then the dual-layer verifier (rule + model layer) keeps the clean ones;
4. **export**: kept dialogs → TRL rows (``synth/trl.jsonl``), which become the training data (``data.train``);
5. **sft**, **grpo**, **egpo**: the config's recipe with the rows split **by API** (``data.holdout_by: api``),
   trained by :func:`funrl_lib.runs.train_arms` as ``funrl study`` trains each seed;
6. **evaluate**: each policy, greedily, on the held-out rows (APIs never seen in training) and on a stratified BFCL
   v4 subset (:func:`funrl_lib.evaluation.evaluate_recipe`, as ``funrl study`` evaluates each seed);
7. **report**: ``report.md`` with every stage's numbers and timings, PNG figures in ``figures/``, and the results
   table in ``table.md`` and ``table.json`` (:func:`funrl_lib.evaluation.write_table`).

The demo prints one line per stage when it finishes: its name, seconds and key figure (``pool  3.2 s  60 APIs``,
``verify  1.9 s  kept 67.8% (78 of 115)``, ``evaluate  5.3 s  held-out exact calls SFT 33.3 / GRPO 33.3 / EGPO
33.3``); what a stage itself prints (progress bars, the trainer's logs) goes to ``logs/<stage>.log``.

Layout of ``<out>``: ``synth/`` (pool, dialogs, verification files, TRL rows), ``run/`` (the training run directory:
data split, tiny model, sft/grpo/egpo), ``eval/`` (``results.jsonl``, BFCL result files, the evaluation report),
``figures/``, ``logs/``, ``report.md``, ``table.md``, ``table.json``, ``state.json`` (finished stages, their seconds,
key figures and the settings they were made with).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .evaluation_defaults import DEFAULT_EVAL, SMOKE_EVAL  # noqa: F401  (pipeline.DEFAULT_EVAL/SMOKE_EVAL still work)
from .runs import ARMS, train_arms

__all__ = ["STAGES", "PipelineError", "run_pipeline", "write_pipeline_report"]

STAGES = ("pool", "dialogs", "verify", "export", "sft", "grpo", "egpo", "evaluate", "report")
DEFAULT_CORRUPT_RATE = 0.3


class PipelineError(ValueError):
    """An output folder made with other settings, or a stage that cannot run."""


def _settings_key(cfg: Any, corrupt_rate: float, evaluation: dict[str, Any]) -> dict[str, Any]:
    import hashlib
    d = cfg.data
    recipe = cfg.to_dict()
    recipe.pop("output_dir", None)  # both follow from --out, so a copied folder still resumes
    recipe["data"].pop("train", None)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"name": cfg.name, "seed": cfg.seed, "synth_apis": d.synth_apis, "synth_dialogs": d.synth_dialogs,
            "synth_complexity": d.synth_complexity, "data_seed": d.seed, "corrupt_rate": corrupt_rate,
            "evaluation": evaluation, "recipe": digest}


class _State:
    """``state.json``: which stages finished, in how many seconds, with which settings."""

    def __init__(self, path: Path, settings: dict[str, Any], force: bool):
        self.path = path
        self.data: dict[str, Any] = {"settings": settings, "stages": {}}
        if path.exists() and not force:
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("settings") != settings:
                changed = sorted(k for k in {**settings, **old.get("settings", {})}
                                 if settings.get(k) != old.get("settings", {}).get(k))
                raise PipelineError(f"{path.parent} holds a pipeline run made with other settings ({', '.join(changed)} "
                                    "differ): use another --out, or --force to start it afresh")
            self.data = old

    def done(self, stage: str) -> bool:
        return bool(self.data["stages"].get(stage, {}).get("done"))

    def finish(self, stage: str, seconds: float, **info: Any) -> None:
        self.data["stages"][stage] = {"done": True, "seconds": round(seconds, 1), **info}
        self.path.write_text(json.dumps(self.data, indent=1) + "\n", encoding="utf-8")


_STREAMS: dict[int, Any] = {}


def _fd_stream(fd: int) -> Any:
    """A text stream on file descriptor ``fd`` itself, never closed: what ``sys.stdout``/``sys.stderr`` are while a
    stage runs, so that a logger that keeps the stream it found writes where the process writes later."""
    if fd not in _STREAMS:
        _STREAMS[fd] = open(fd, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    return _STREAMS[fd]


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Everything printed meanwhile (Python's and the C libraries': progress bars, trainer logs, warnings) appended to
    ``path``; nothing is redirected where the process has no file descriptors 1 and 2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:
        yield
        return
    with open(path, "ab") as f:
        try:
            for fd in (1, 2):
                os.dup2(f.fileno(), fd)
            with contextlib.redirect_stdout(_fd_stream(1)), contextlib.redirect_stderr(_fd_stream(2)):
                yield
        finally:
            for fd, copy in zip((1, 2), saved):
                _fd_stream(fd).flush()
                os.dup2(copy, fd)
                os.close(copy)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def _exact_calls(info: dict[str, Any]) -> str:
    calls = info.get("exact_calls") or {}
    return "held-out exact calls " + " / ".join(f"{arm.upper()} {v:.1f}" for arm, v in calls.items()) + \
        f" (% of {info.get('heldout_rows', '?')} rows)"


# each stage's key figure, from what it recorded in state.json
_FIGURES: dict[str, Callable[[dict[str, Any]], str]] = {
    "pool": lambda i: f"{i.get('apis', '?')} APIs over {i.get('domains', '?')} domains",
    "dialogs": lambda i: f"{i.get('dialogs', '?')} dialogs",
    "verify": lambda i: (f"kept {_pct(i['kept'], i['kept'] + i['rejected'])} ({i['kept']} of "
                         f"{i['kept'] + i['rejected']})" if "kept" in i else ""),
    "export": lambda i: f"{i.get('rows', '?')} training rows",
    "sft": lambda i: f"loss {_fmt(i.get('loss'), digits=2)} after {i.get('global_step', '?')} steps",
    "grpo": lambda i: f"reward {_fmt(i.get('reward'))} after {i.get('global_step', '?')} steps",
    "evaluate": _exact_calls,
    "report": lambda i: ", ".join(i.get("files", [])),
}
_FIGURES["egpo"] = _FIGURES["grpo"]


def _stage_line(name: str, seconds: float, info: dict[str, Any]) -> str:
    """The one line the demo prints for a finished stage: name, seconds, key figure."""
    return f"{name:<9}{seconds:7.1f} s  {_FIGURES[name](info)}"


def _stage(state: _State, name: str, fn: Callable[[], dict[str, Any] | None], log: Callable[[str], None],
           logs: Path) -> None:
    if state.done(name):
        s = state.data["stages"][name]
        log(_stage_line(name, s["seconds"], s) + "  (done earlier)")
        return
    start = time.perf_counter()
    try:
        with _output_to(logs / f"{name}.log"):
            info = fn() or {}
    except BaseException:
        log(f"{name:<9}{time.perf_counter() - start:7.1f} s  failed: its output is in {logs / f'{name}.log'}")
        raise
    seconds = time.perf_counter() - start
    state.finish(name, seconds, **info)
    log(_stage_line(name, seconds, info))


def _brief(info: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in info.items() if isinstance(v, (int, float, str)))


def run_pipeline(config: str | Path | None = "configs/tiny-cpu.yaml", out: str | Path = "outputs/demo", *,
                 overrides: Sequence[str] = (), smoke: bool = False, corrupt_rate: float = DEFAULT_CORRUPT_RATE,
                 heldout_limit: int | None = DEFAULT_EVAL["heldout_limit"],
                 bfcl_per_category: int = DEFAULT_EVAL["bfcl_per_category"],
                 bfcl_categories: str = DEFAULT_EVAL["bfcl_categories"],
                 max_new_tokens: int = DEFAULT_EVAL["max_new_tokens"], force: bool = False, progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """Run (or continue) the pipeline into ``out``; returns the path of ``report.md``.

    ``smoke``: :data:`funrl_lib.train.config.SMOKE_OVERRIDES` and a tiny evaluation (:data:`SMOKE_EVAL`), seconds
    of work per stage (the tests use it). ``force``: start afresh (the stages' own files are overwritten)."""
    from .train.config import SMOKE_OVERRIDES, load_config

    if not 0 <= corrupt_rate < 1:
        raise PipelineError(f"corrupt_rate must be in [0, 1), not {corrupt_rate}")
    out = Path(out)
    evaluation = {"heldout_limit": heldout_limit, "bfcl_per_category": bfcl_per_category,
                  "bfcl_categories": bfcl_categories, "max_new_tokens": max_new_tokens}
    if smoke:
        evaluation = dict(SMOKE_EVAL)
    synth = out / "synth"
    trl_path = synth / "trl.jsonl"
    cfg = load_config(config, [*(SMOKE_OVERRIDES if smoke else []), *overrides, f"output_dir={out / 'run'}",
                               f"data.train={trl_path}", "data.holdout_by=api"])
    from .train.backend import prepare_backend
    prepare_backend(cfg)  # Unsloth (backend unsloth) before any stage imports trl/transformers/peft
    if force and out.exists():
        import shutil
        for sub in ("synth", "run", "eval", "figures", "logs"):
            shutil.rmtree(out / sub, ignore_errors=True)
        (out / "state.json").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out / "state.json", _settings_key(cfg, corrupt_rate, evaluation), force)
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    d = cfg.data
    # enough dialogs that about data.synth_dialogs survive the defects injected before verification
    n_dialogs = math.ceil(d.synth_dialogs / (1 - corrupt_rate))
    log(f"funrl demo -> {out}  (config {config or 'defaults'}{', smoke' if smoke else ''}; what each stage prints: "
        f"{out / 'logs'})")
    started = time.perf_counter()

    def pool_stage() -> dict[str, Any]:
        from .synth.api_pool import build_pool, pool_stats
        from .synth.plots import plot_pool_stats
        pool = build_pool(d.synth_apis, seed=d.seed, out=synth / "pool.jsonl", progress=progress)
        stats = pool_stats(pool)
        _json(synth / "pool_stats.json", stats)
        _close(plot_pool_stats(stats, figures / "1_pool.png"))
        return {"apis": len(pool), "domains": stats["domains"]}

    def dialogs_stage() -> dict[str, Any]:
        from .synth.api_pool import load_pool
        from .synth.dialogs import dialog_stats, generate_dialogs
        from .synth.plots import plot_dialog_stats
        samples = generate_dialogs(load_pool(synth / "pool.jsonl"), n_dialogs, seed=d.seed,
                                   complexity_mix=d.synth_complexity, out=synth / "dialogs.jsonl", progress=progress)
        stats = dialog_stats(samples)
        _json(synth / "dialog_stats.json", stats)
        _close(plot_dialog_stats(stats, figures / "2_dialogs.png"))
        return {"dialogs": len(samples)}

    def verify_stage() -> dict[str, Any]:
        from .synth.api_pool import load_pool
        from .synth.corrupt import corrupt_samples, pool_executor
        from .io import write_jsonl
        from .synth.plots import plot_verify_report
        from .synth.sample import read_samples
        from .synth.verify import verify_file
        pool = load_pool(synth / "pool.jsonl")
        noisy_path = synth / "dialogs_noisy.jsonl"
        if not noisy_path.exists():  # deterministic, so a re-run after a crash writes the same file
            dialogs = [s for _, s, _ in read_samples(str(synth / "dialogs.jsonl"))]
            noisy = corrupt_samples(dialogs, corrupt_rate, d.seed, executor=pool_executor(pool))
            write_jsonl(noisy_path, [s.to_dict() for s, _ in noisy])
        report = verify_file(noisy_path, kept_path=synth / "kept.jsonl", rejected_path=synth / "rejected.jsonl",
                             report_path=synth / "verify_report.json", pool=pool, progress=progress)
        _close(plot_verify_report(report.to_dict(), figures / "3_verify.png"))
        _json(synth / "recall.json", _recall(synth))
        t = report.totals
        return {"kept": t["kept"], "rejected": t["rejected"]}

    def export_stage() -> dict[str, Any]:
        from .synth.export import export_rows
        from .io import write_jsonl
        from .synth.sample import read_samples
        samples = [s for _, s, _ in read_samples(str(synth / "kept.jsonl")) if s is not None]
        rows = write_jsonl(trl_path, export_rows(samples, "trl"))
        return {"rows": rows}

    def train_stage(arm: str) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            from .train.logs import read_log
            final = train_arms(cfg, (arm,))[arm]  # GRPO/EGPO after the SFT stage: its warm start is there
            done = json.loads((Path(final) / "done.json").read_text(encoding="utf-8"))
            key, last = ("loss", 3) if arm == "sft" else ("reward", 10)  # as the report's training section
            log = read_log(cfg.run_dir / arm / "log.jsonl")
            value = _last_mean(log, key, last)
            if value is None and arm == "sft":  # a run shorter than logging_steps: the trainer's mean loss
                value = next((e["train_loss"] for e in reversed(log) if "train_loss" in e), None)
            return {**{k: done[k] for k in ("global_step", "rows") if k in done},
                    key: None if value is None else round(value, 4)}
        return run

    def evaluate_stage() -> dict[str, Any]:
        from .evaluation import evaluate_recipe, rounded_metrics, summarize_results
        from .train.plots import plot_training
        finals = train_arms(cfg, ARMS)  # trained by the stages before: only their directories
        _close(plot_training(cfg.run_dir, figures / "4_training.png"))
        results = out / "eval" / "results.jsonl"
        n = evaluate_recipe(cfg, finals, results, out / "eval" / "bfcl", **evaluation, progress=progress)
        exact = rounded_metrics(summarize_results(results), "heldout/answer_ok").get("heldout/answer_ok", {})
        return {"heldout_rows": n, "exact_calls": {arm: m["mean"] for arm, m in exact.items()}}

    logs = out / "logs"
    for name, fn in (("pool", pool_stage), ("dialogs", dialogs_stage), ("verify", verify_stage),
                     ("export", export_stage), *((arm, train_stage(arm)) for arm in ARMS),
                     ("evaluate", evaluate_stage)):
        _stage(state, name, fn, log, logs)
    flags = [f"--config {config}" if config else "", f"--out {out}", "--smoke" if smoke else "",
             *(f"--set {o}" for o in overrides),
             f"--corrupt-rate {corrupt_rate}" if corrupt_rate != DEFAULT_CORRUPT_RATE else ""]
    if not smoke:
        flags += [f"--{k.replace('_', '-')} {v}" for k, v in evaluation.items() if v != DEFAULT_EVAL[k]]
    command = "funrl demo " + " ".join(f for f in flags if f)
    start = time.perf_counter()  # the report is written on every run, so it always reflects the files
    with _output_to(logs / "report.log"):
        report = write_pipeline_report(out, cfg, command=command, this_run_s=time.perf_counter() - started)
    files = [p.name for p in (report, out / "table.md", out / "table.json") if p.exists()]
    seconds = time.perf_counter() - start
    state.finish("report", seconds, files=files)
    log(_stage_line("report", seconds, {"files": files}))
    return report


def _json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, default=str) + "\n", encoding="utf-8")


def _close(fig: Any) -> None:
    import matplotlib.pyplot as plt
    plt.close(fig)


def _recall(synth: Path) -> dict[str, dict[str, int]]:
    """Per injected defect: injected, rejected; and the clean dialogs rejected (false positives)."""
    from .io import read_records
    kinds = {}
    for rec in read_records(synth / "dialogs_noisy.jsonl"):
        if rec.error is None:
            kinds[rec.value.get("id")] = (rec.value.get("meta") or {}).get("corruption") or "(clean)"
    rejected = {rec.value.get("id") for rec in read_records(synth / "rejected.jsonl") if rec.error is None}
    table: dict[str, dict[str, int]] = {}
    for sid, kind in kinds.items():
        row = table.setdefault(kind, {"injected": 0, "rejected": 0})
        row["injected"] += 1
        row["rejected"] += sid in rejected
    return dict(sorted(table.items(), key=lambda kv: (kv[0] == "(clean)", -kv[1]["injected"])))


def _last_mean(log: list[dict[str, Any]], key: str, k: int = 10) -> float | None:
    from .train.plots import curves
    _, ys = curves(log, key)
    return sum(ys[-k:]) / len(ys[-k:]) if ys else None


def _fmt(v: float | None, pct: bool = False, digits: int = 3) -> str:
    if v is None:
        return "—"
    return f"{100 * v:.1f}" if pct else f"{v:.{digits}f}"


def write_pipeline_report(out: str | Path, cfg: Any, *, command: str, this_run_s: float | None = None) -> Path:
    """``<out>/report.md`` (and ``eval/report.md``, ``figures/5_evaluation.png``, the results table ``table.md`` and
    ``table.json``) from the files the stages wrote."""
    from .evaluation import metrics_table, summarize_results, write_report, write_table
    from .tour import versions
    from .train.logs import read_log

    out = Path(out)
    synth, figures = out / "synth", out / "figures"
    state = json.loads((out / "state.json").read_text(encoding="utf-8"))
    stages = state["stages"]
    lines = ["# funrl pipeline report", "",
             f"Reproduce with `{command}` (the same command resumes an interrupted run). "
             f"{versions(('torch', 'transformers', 'trl', 'peft', 'datasets', 'bfcl-eval'))}; "
             f"{platform.machine()}, {_cpu_count()} CPU cores.", ""]
    total = sum(s.get("seconds", 0.0) for s in stages.values())
    lines += ["| stage | seconds | what came out |", "|---|---|---|"]
    for name in STAGES[:-1]:
        s = stages.get(name)
        if s:
            lines.append(f"| {name} | {s['seconds']:.1f} | {_brief({k: v for k, v in s.items() if k not in ('done', 'seconds')})} |")
    lines += [f"| **total** | **{total:.1f}** ({total / 60:.1f} min) | |", ""]
    if this_run_s is not None and this_run_s + 60 < total:
        lines += [f"(This invocation took {this_run_s:.1f} s; the rest was done by earlier, interrupted runs.)", ""]

    pool_stats = _read_json(synth / "pool_stats.json")
    if pool_stats:
        lines += ["## 1. API pool (ToolACE §2.1, programmatic backend)", "",
                  f"{pool_stats['apis']} APIs over {pool_stats['domains']} domains, grown from the domain tree in "
                  "`data/api_tree` and evolved (parameters added, types changed, nesting, constraints). File: "
                  "`synth/pool.jsonl`.", "", "![pool](figures/1_pool.png)", ""]
    dstats = _read_json(synth / "dialog_stats.json")
    if dstats:
        mix = ", ".join(f"{t} {n}" for t, n in dstats["types"].items())
        lines += ["## 2. Dialogs (ToolACE §2.2: user / assistant / tool agents)", "",
                  f"{dstats['n']} dialogs ({mix}); complexity mix `{cfg.data.synth_complexity}`. File: "
                  "`synth/dialogs.jsonl`.", "", "![dialogs](figures/2_dialogs.png)", ""]
    vrep = _read_json(synth / "verify_report.json")
    recall = _read_json(synth / "recall.json")
    if vrep:
        t = vrep["totals"]
        lines += ["## 3. Dual-layer verification (ToolACE §2.3)", "",
                  f"{t['records']} dialogs in, about {_fmt(state['settings']['corrupt_rate'], True)}% of them "
                  f"damaged on purpose with an LLM generator's typical defects; **{t['kept']} kept, {t['rejected']} "
                  "rejected** (`synth/kept.jsonl`, `synth/rejected.jsonl` with every failed rule and its reason).", "",
                  "| layer | checked | passed | pass rate | ToolACE (reported) |", "|---|---|---|---|---|"]
        ref = vrep.get("toolace_reference", {})
        for layer, row in vrep["layers"].items():
            rate = "—" if row["pass_rate"] is None else f"{100 * row['pass_rate']:.1f}%"
            r = ref.get(layer)
            lines.append(f"| {layer} | {row['checked']} | {row['passed']} | {rate} | "
                         f"{'—' if r is None else f'{100 * r:.1f}%'} |")
        if recall:
            lines += ["", "| injected defect | dialogs | rejected |", "|---|---|---|"]
            for kind, row in recall.items():
                lines.append(f"| {kind} | {row['injected']} | {row['rejected']} "
                             f"({100 * row['rejected'] / max(1, row['injected']):.0f}%) |")
        lines += ["", "![verification](figures/3_verify.png)", ""]
    counts = _read_json(out / "run" / "data" / "rows.json")
    if "export" in stages:
        lines += ["## 4. Training data", "",
                  f"{stages['export'].get('rows', '?')} TRL rows from the kept dialogs (`synth/trl.jsonl`)."]
        if counts:
            c = counts["counts"]
            lines += [f"After the recipe's filters (dialog types {list(cfg.data.types or [])}, prompts ≤ "
                      f"{cfg.data.max_prompt_tokens} tokens) and the split **by API** (a share "
                      f"{cfg.data.holdout_fraction} of the API names held out, with every row that offers one): "
                      f"**{c['train']} training rows, {c['heldout']} held-out rows**."]
        lines += [""]

    logs = {m: read_log(out / "run" / m / "log.jsonl") for m in ("sft", "grpo", "egpo")}
    if any(logs.values()):
        lines += ["## 5. Training: SFT warm start, then GRPO and EGPO (FunRL Eq. 5)", "",
                  f"Recipe `{cfg.name}`: SFT {cfg.sft.max_steps} steps; RL {cfg.grpo.max_steps} steps × "
                  f"{cfg.grpo.num_generations} rollouts, T {cfg.grpo.temperature}, β {cfg.grpo.beta}; EGPO λ "
                  f"{cfg.egpo.entropy_lambda}, α {cfg.egpo.entropy_alpha}. Means over the last 10 logged steps:", "",
                  "| arm | reward | CoT entropy E | bonus | KL | completion length |", "|---|---|---|---|---|---|"]
        for m in ("grpo", "egpo"):
            if logs[m]:
                lines.append(f"| {m.upper()} | {_fmt(_last_mean(logs[m], 'reward'))} | "
                             f"{_fmt(_last_mean(logs[m], 'egpo/cot_entropy'))} | "
                             f"{_fmt(_last_mean(logs[m], 'egpo/bonus'))} | {_fmt(_last_mean(logs[m], 'kl'), digits=4)} | "
                             f"{_fmt(_last_mean(logs[m], 'completions/mean_length'), digits=1)} |")
        sft_loss = _last_mean(logs["sft"], "loss", 3)
        lines += ["", f"SFT loss at the end: {_fmt(sft_loss)}.", "", "![training](figures/4_training.png)", ""]

    results = out / "eval" / "results.jsonl"
    if results.exists() and results.stat().st_size:
        summary = summarize_results(results)
        write_report(summary, out / "eval", title="Evaluation: SFT vs GRPO vs EGPO", command=command, caveats=None,
                     figure="evaluation.png")
        write_table(summary, out, title=f"funrl demo: held-out and BFCL accuracy ({cfg.name})")
        import shutil
        if (out / "eval" / "evaluation.png").exists():
            shutil.copyfile(out / "eval" / "evaluation.png", figures / "5_evaluation.png")
        lines += ["## 6. Evaluation (greedy)", "",
                  "**Held-out synthetic rows** (APIs never seen in training). `answer_ok` is the exact-call "
                  "accuracy: the calls pass the BFCL checker, or no call where none is wanted; `reward` also needs "
                  "the think template. Accuracy in %:", "", *metrics_table(summary, "heldout/"), "",
                  "**BFCL v4**, a stratified subset per category (`funrl bfcl generate --prompt funrl`, scored by "
                  "funrl's BFCL checker; result files in BFCL's layout under `eval/bfcl/`). `[...]` rows are BFCL "
                  "v4 summaries over the categories evaluated:", "", *metrics_table(summary, "bfcl/"), "",
                  "![evaluation](figures/5_evaluation.png)", "",
                  "The same numbers, rounded, with the seed: `table.md` and `table.json`.", ""]
    if cfg.model.backend == "tiny":
        scale = ("With the tiny recipe it shows the plumbing, the format being learned and the GRPO/EGPO curves, not "
                 f"the paper's result: a model of a few million weights after {cfg.sft.max_steps} SFT and "
                 f"{cfg.grpo.max_steps} RL steps gets few exact calls right, and one seed cannot separate GRPO from "
                 "EGPO. `funrl study` repeats the comparison over seeds with 95% intervals; the README's GPU recipes "
                 "run this same pipeline on Qwen2.5 models (`--config`).")
    else:
        scale = (f"Model `{cfg.model.name_or_path}` ({cfg.model.backend}). One seed: differences between GRPO and "
                 "EGPO smaller than the spread over seeds (`funrl study`) are not evidence either way, and the BFCL "
                 "rows are a stratified subset, not the leaderboard's full categories.")
    lines += ["## What this run shows", "",
              "That every stage of the method runs end to end and hands the next one its files, with the numbers "
              "above as measured. " + scale, ""]
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _cpu_count() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
