#!/usr/bin/env bash
# Base-model BFCL v4 single-turn figures, both modes (resumable: re-run to continue).
set -x
M=outputs/models/qwen2.5-coder-0.5b/model.gguf
.venv/bin/funrl bfcl generate --model $M --backend hf --prompt fc --model-name Qwen2.5-Coder-0.5B-Instruct-FC \
  --categories single_turn --limit 20 --stratified --seed 0 --batch-size 8 --max-new-tokens 256 --out outputs/base-bfcl --no-progress
.venv/bin/funrl bfcl generate --model $M --backend hf --prompt funrl --model-name Qwen2.5-Coder-0.5B-Instruct-funrl \
  --categories single_turn --limit 20 --stratified --seed 0 --batch-size 8 --max-new-tokens 256 --out outputs/base-bfcl --no-progress
echo ALLDONE
