"""Score programmatic dialogs one at a time with a model (ToolACE §2.2 Eq. 1 via ModelGuide.score), round-robin over the
dialog types, logging each as it is scored (wall and CPU seconds, tokens): the dialogs are the ones `funrl dialogs
--complexity-model` draws to calibrate. Usage: python probe.py MODEL POOL.jsonl OUT.jsonl"""
import json
import resource
import sys
import time

from funrl_lib.synth.api_pool import load_pool
from funrl_lib.synth.dialogs.builder import _Builder
from funrl_lib.synth.dialogs.complexity import BANDS, _start_level, _encode
from funrl_lib.synth.dialogs.model_guided import ModelGuide
from funrl_lib.synth.sample import DIALOG_TYPES
guide = ModelGuide.load(sys.argv[1], dtype="bfloat16", calibration=3, batch_size=1)
builder = _Builder(load_pool(sys.argv[2]), 0)
out = open(sys.argv[3], "a")
for j in range(100):
    typ = DIALOG_TYPES[j % 8]; band = BANDS[(j // 8) % 3]
    s = builder.candidate(j // 8, typ, band, _start_level(typ, band), "calibrate", typ)
    ids, mask = _encode(s, guide.tokenizer, None)
    w0, c0 = time.perf_counter(), time.process_time()
    [loss] = guide.score([s])
    row = {"type": typ, "level_of": band, "loss": round(loss, 6), "tokens": len(ids), "scored_tokens": sum(mask),
           "complexity": s.meta["complexity"], "wall_s": round(time.perf_counter() - w0, 2),
           "cpu_s": round(time.process_time() - c0, 2),
           "max_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}
    out.write(json.dumps(row) + "\n"); out.flush()
