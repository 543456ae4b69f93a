#!/usr/bin/env bash
# sha256 of every offline synthesis output for fixed seeds: pool -> dialogs -> verify -> export (all four targets).
# Run it before and after a refactor of funrl_lib/synth (issue 15: "the same seeds give byte-identical outputs");
# the two tables must be equal.   Usage: bash scripts/output_hashes.sh [OUT_DIR]   (prints "sha256  file" lines)
set -euo pipefail
FUNRL=$(realpath "${FUNRL:-.venv/bin/funrl}")
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
cd "$OUT"   # reports name their input: relative paths keep the hashes independent of OUT
for seed in 0 1; do
  d="seed-$seed"
  mkdir -p "$d"
  "$FUNRL" pool --n 300 --seed "$seed" --out "$d/pool.jsonl" --stats "$d/pool-stats.json" --no-progress >/dev/null
  "$FUNRL" dialogs --pool "$d/pool.jsonl" --n 400 --seed "$seed" --out "$d/dialogs.jsonl" \
    --stats "$d/dialogs-stats.json" --no-progress >/dev/null
  "$FUNRL" verify --in "$d/dialogs.jsonl" --pool "$d/pool.jsonl" --out "$d/kept.jsonl" --rejected "$d/rejected.jsonl" \
    --report "$d/verify-report.json" --no-progress >/dev/null
  "$FUNRL" verify --in "$d/dialogs.jsonl" --pool "$d/pool.jsonl" --funrl-filter --out "$d/kept-funrl.jsonl" \
    --rejected "$d/rejected-funrl.jsonl" --report "$d/verify-funrl-report.json" --no-progress >/dev/null
  # a corrupted copy (20%, every corruption kind, executed against the pool) exercises the rejection paths
  "${FUNRL%/funrl}/python" - "$d" "$seed" <<'PY'
import sys
from funrl_lib.io import dumps_line
from funrl_lib.synth.api_pool import load_pool
from funrl_lib.synth.corrupt import corrupt_samples, pool_executor
from funrl_lib.synth.sample import read_samples
d, seed = sys.argv[1], int(sys.argv[2])
samples = [s for _, s, _ in read_samples(f"{d}/dialogs.jsonl")]
pool = load_pool(f"{d}/pool.jsonl")
with open(f"{d}/corrupted.jsonl", "w", encoding="utf-8") as f:
    for s, kind in corrupt_samples(samples, 0.2, seed=seed, executor=pool_executor(pool)):
        f.write(dumps_line(s.to_dict()) + "\n")
PY
  "$FUNRL" verify --in "$d/corrupted.jsonl" --pool "$d/pool.jsonl" --out "$d/kept-corrupted.jsonl" \
    --rejected "$d/rejected-corrupted.jsonl" --report "$d/verify-corrupted-report.json" --no-progress >/dev/null
  for to in toolace openai bfcl trl; do
    "$FUNRL" export --in "$d/kept.jsonl" --to "$to" --out "$d/export-$to.jsonl" >/dev/null
  done
done
# verify reports carry their wall time: it is dropped (and said so) before hashing
"${FUNRL%/funrl}/python" - <<'PY'
import hashlib, json, pathlib
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ("elapsed_s", "samples_per_s")}
    return [strip(v) for v in o] if isinstance(o, list) else o
for p in sorted(pathlib.Path(".").rglob("*.json*")):
    data, note = p.read_bytes(), ""
    if p.name.startswith("verify-"):
        data, note = json.dumps(strip(json.loads(data)), sort_keys=True).encode(), "  (timings dropped)"
    print(f"{hashlib.sha256(data).hexdigest()}  {p}{note}")
PY
