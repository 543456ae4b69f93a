"""A small end-to-end synthesis with a real LLM (issue 16): speciation, pool, dialogs and verification
(ToolACE, arXiv 2409.00920v2 §2.1 tool self-evolution synthesis, §2.2 self-guided dialog generation, §2.3 dual-layer
verification), all through one backend, with what parses per stage, what verification rejects per rule, and the
model's tokens per second written to ``<out>/stats.json``.

    nice -n 10 .venv/bin/python scripts/real_llm_synthesis.py --backend hf \\
        --model outputs/models/qwen2.5-coder-0.5b/model.hf --out /tmp/real-synth
    .venv/bin/python scripts/real_llm_synthesis.py --backend openai --base-url http://host:8000/v1 \\
        --model NAME --out /tmp/real-synth

Every stage is resumable (re-run the same command after a crash); ``stats.json`` is rewritten after each stage, so a
run cut short still says what it did. The model is loaded once and shared by the stages (``hf``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from funrl_lib.backends import Backend, HFBackend, backend_from_cli, extract_json  # noqa: E402
from funrl_lib.io import quarantine_path  # noqa: E402
from funrl_lib.synth.api_pool import (SpeciationConfig, build_pool, grow_tree, load_pool, load_tree,  # noqa: E402
                                      pool_stats, tree_path)
from funrl_lib.synth.dialogs import generate_dialogs  # noqa: E402
from funrl_lib.synth.verify import verify_file  # noqa: E402


class Batching(Backend):
    """Sends the requests that concurrent callers make while a call is running as one call to ``inner``, with each
    request's sampling seed dropped: :class:`HFBackend` batches only requests whose settings (seed included) are
    equal, and the stages ask one request at a time, so without this a CPU decodes one sequence per forward pass.
    A sampled text then depends on its batch mates (as HFBackend documents for any batch)."""

    def __init__(self, inner: Backend, window: float = 0.05):
        super().__init__()
        self.inner, self.name, self.window = inner, inner.name, window
        self._queue: list[tuple[list, Any]] = []
        self._task: Any = None

    async def achat(self, requests: Sequence[Any]) -> list[Any]:
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((list(requests), fut))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(self.window)  # let the callers of this round all arrive
            jobs, self._queue = self._queue, []
            flat = [replace(r, seed=None) for reqs, _ in jobs for r in reqs]
            try:
                results = await self.inner.achat(flat)
            except Exception as e:  # noqa: BLE001 - every waiting caller gets the error
                for _, fut in jobs:
                    fut.set_exception(e)
                continue
            k = 0
            for reqs, fut in jobs:
                fut.set_result(results[k:k + len(reqs)])
                k += len(reqs)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Recording(Backend):
    """Passes every request to ``inner`` and keeps, per stage, how many replies came back, how many of them hold a
    JSON object or array (:func:`extract_json`), and the tokens and seconds spent. With ``max_tokens``, no request
    may answer more than that many tokens (a stage's own limit still applies when it is lower): on a CPU a batch of
    replies costs as long as its longest, so the cap bounds what one rambling reply can cost the batch."""

    def __init__(self, inner: Backend, log: Path | None = None, max_tokens: int | None = None):
        super().__init__()
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"--max-tokens must be at least 1, not {max_tokens}")
        self.inner, self.name, self.log, self.max_tokens = inner, inner.name, log, max_tokens
        self.stages: dict[str, Counter] = {}

    async def achat(self, requests: Sequence[Any]) -> list[Any]:
        if self.max_tokens is not None:
            requests = [replace(r, max_tokens=min(r.max_tokens, self.max_tokens)) for r in requests]
        t0, c0 = time.perf_counter(), time.process_time()
        results = await self.inner.achat(requests)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        for r, res in zip(requests, results):
            row = self.stages.setdefault(r.stage, Counter())
            row["replies"] += 1
            is_json = False
            if res.ok:
                row["completion_tokens"] += res.usage.get("completion_tokens", 0)
                row["prompt_tokens"] += res.usage.get("prompt_tokens", 0)
                try:
                    extract_json(res.text)
                    is_json = True
                    row["json_replies"] += 1
                except ValueError:
                    pass
            else:
                row["backend_errors"] += 1
            if self.log is not None:  # one line per reply, as it comes: a run cut short still has its numbers
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"stage": r.stage, "ok": res.ok, "json": is_json, **res.usage,
                                        "batch": len(requests), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                        "end": round(time.time(), 2), "cpu_end": round(time.process_time(), 2),
                                        "text": (res.text or res.error or "")[:400]}) + "\n")
        return results

    async def aclose(self) -> None:
        await self.inner.aclose()


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().split(b"\n") if line.strip()) if path.exists() else 0


def run(args: argparse.Namespace, backend: Backend | None = None) -> dict[str, Any]:
    """The four stages into ``args.out``; returns (and writes) the statistics."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inner = backend or backend_from_cli(args.backend, model=args.model, base_url=args.base_url,
                                        concurrency=args.concurrency)
    stats: dict[str, Any] = {"backend": args.backend, "model": args.model, "seed": args.seed,
                             "max_tokens": args.max_tokens, "stages": {}}
    rec = Recording(inner, out / "calls.jsonl", max_tokens=args.max_tokens)
    front: Backend = rec
    if isinstance(inner, HFBackend):
        t0 = time.perf_counter()
        inner._load()  # once, before the clocks of the stages start
        stats["model_load_s"] = round(time.perf_counter() - t0, 1)
        front = Batching(rec)  # the recording inside the batching: it sees each generate()'s batch

    def stage(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        value, row = fn()
        row["wall_s"] = round(time.perf_counter() - t0, 1)
        stats["stages"][name] = row
        calls = dict(rec.stages.get(name, {}))
        calls["completion_tokens_per_s"] = round(calls.get("completion_tokens", 0) / row["wall_s"], 2) \
            if row["wall_s"] else None
        row["calls"] = calls
        (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
        return value

    pool_file = out / "pool.jsonl"
    config = SpeciationConfig(domains=args.speciate_domains, depth=args.speciate_depth, width=args.speciate_width)

    def speciation() -> tuple[Any, dict]:
        tree, report = grow_tree(load_tree(), front, config, seed=args.seed, out=tree_path(pool_file))
        return tree, report

    tree = stage("speciation", speciation)
    static = {tuple(leaf.path) for leaf in load_tree()}

    def pool() -> tuple[Any, dict]:
        records = build_pool(args.apis, args.seed, backend=front, tree=tree, out=pool_file, progress=False)
        s = pool_stats(records)
        return records, {"asked": args.apis, "written": len(records), "quarantined": _lines(quarantine_path(pool_file)),
                         "on_new_functionalities": sum(any(tuple(p) not in static for p in r.leaves) for r in records),
                         "domains": s["domains"], "parameters": s["parameters"]}

    records = stage("pool", pool)
    dialogs_file = out / "dialogs.jsonl"

    def dialogs() -> tuple[Any, dict]:
        if len(records) < 3:
            return [], {"skipped": f"only {len(records)} APIs (3 needed)"}
        samples = generate_dialogs(records, args.dialogs, args.seed, mix=args.mix, backend=front, out=dialogs_file,
                                   progress=False, concurrency=args.concurrency, votes=args.votes)
        reasons = Counter()
        if quarantine_path(dialogs_file).exists():
            for line in quarantine_path(dialogs_file).read_text().splitlines():
                reasons[json.loads(line).get("reason", "").split(":")[0]] += 1
        return samples, {"asked": args.dialogs, "written": len(samples), "quarantined": sum(reasons.values()),
                         "quarantine_reasons": dict(reasons.most_common()),
                         "types": dict(Counter(s.type for s in samples))}

    samples = stage("dialogs", dialogs)

    def verify() -> tuple[Any, dict]:
        if not samples:
            return None, {"skipped": "no dialogs"}
        report = verify_file(dialogs_file, "auto", out / "kept.jsonl", out / "rejected.jsonl", out / "report.json",
                             backend=None if args.no_judges else front, pool=load_pool(pool_file), progress=False)
        rejected = Counter()
        for line in (out / "rejected.jsonl").read_text().splitlines():
            for rule in json.loads(line).get("failed", {}):
                rejected[rule] += 1
        return report, {"kept": _lines(out / "kept.jsonl"), "rejected": _lines(out / "rejected.jsonl"),
                        "rejected_per_rule": dict(rejected.most_common()), "judges": not args.no_judges}

    stage("verify", verify)
    return stats


def _spent(rows: list[dict]) -> tuple[float, float]:
    """Wall and CPU seconds of a stage's replies: from the first call's start to the last one's end (calls overlap
    when requests run concurrently); for a log without end times, one count per batch (same wall and CPU)."""
    if all("end" in c for c in rows):
        return (max(c["end"] for c in rows) - min(c["end"] - c["wall_s"] for c in rows),
                max(c["cpu_end"] for c in rows) - min(c["cpu_end"] - c["cpu_s"] for c in rows))
    batches = {(c["wall_s"], c["cpu_s"]) for c in rows}
    return sum(w for w, _ in batches), sum(c for _, c in batches)


def summary(out: Path) -> str:
    """Markdown tables of a run so far, from ``calls.jsonl`` (every reply, as it came), the grown tree's steps and
    ``stats.json`` (the stages that finished): what parses per stage, what verification rejects per rule, and the
    speed (a batch's wall and CPU seconds are shared out among its replies)."""
    calls = [json.loads(line) for line in (out / "calls.jsonl").read_text().splitlines()] \
        if (out / "calls.jsonl").exists() else []
    lines = ["| stage | replies | JSON replies | prompt tokens | completion tokens | wall s | CPU s | "
             "completion tokens/s (wall) | tokens/s per CPU s (prompt + completion) |", "|---" * 9 + "|"]
    for stage in dict.fromkeys(c["stage"] for c in calls):
        rows = [c for c in calls if c["stage"] == stage]
        wall, cpu = _spent(rows)
        pt, ct = sum(c.get("prompt_tokens", 0) for c in rows), sum(c.get("completion_tokens", 0) for c in rows)
        lines.append(f"| {stage} | {len(rows)} | {sum(c['json'] for c in rows)} | {pt} | {ct} | {wall:.0f} | "
                     f"{cpu:.0f} | {ct / wall if wall else 0:.2f} | {(pt + ct) / cpu if cpu else 0:.1f} |")
    steps = [json.loads(line) for line in tree_path(out / "pool.jsonl").read_text().splitlines()] \
        if tree_path(out / "pool.jsonl").exists() else []
    lines += ["", "| speciation step | status | kept | dropped |", "|---|---|---|---|"]
    for r in steps:
        kept = ", ".join(x["name"] if isinstance(x, dict) else x for x in r.get("items", [])) or r.get("reason", "")
        dropped = ", ".join(f"{k} {v}" for k, v in r.get("dropped", {}).items())
        lines.append(f"| {r['id']} | {r['status']} | {kept.replace('|', '/')} | {dropped} |")
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else {"stages": {}}
    lines += ["", "| stage | outcome |", "|---|---|"]
    for name, row in stats["stages"].items():
        shown = {k: v for k, v in row.items() if k not in ("calls", "before", "after")}
        lines.append(f"| {name} | `{json.dumps(shown)}` |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", default="hf", choices=["hf", "openai"])
    p.add_argument("--model", default=None, help="hf: a model folder; openai: the model name")
    p.add_argument("--base-url", default=None, help="openai: the server")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speciate-domains", type=int, default=1)
    p.add_argument("--speciate-depth", type=int, default=3)
    p.add_argument("--speciate-width", type=int, default=2)
    p.add_argument("--apis", type=int, default=20)
    p.add_argument("--dialogs", type=int, default=30)
    p.add_argument("--mix", default="single=1,parallel=1,irrelevance=1")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="cap every request's reply at this many tokens (default: each stage's own limit: "
                        "speciation 768, pool and dialogs 1,024, judges 512)")
    p.add_argument("--votes", type=int, default=1, help="assistant generations that must agree (ToolACE uses 3)")
    p.add_argument("--no-judges", action="store_true", help="verify with the rule layer and the offline model layer "
                                                            "only (no LLM judge)")
    p.add_argument("--summary", action="store_true", help="print the tables of the run in --out so far, then exit")
    args = p.parse_args(argv)
    if args.summary:
        print(summary(Path(args.out)))
        return 0
    stats = run(args)
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
