"""The notebooks run top to bottom at smoke sizes (00 setup, then the synthesis chain 01 API pool -> 02 dialogs -> 03
verification, then 04 training and 05 BFCL evaluation, each standing alone), pass their artifacts through FUNRL_OUT
and nothing else, and are exactly what scripts/build_notebooks.py writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# what each notebook must leave under FUNRL_OUT/synth (a later notebook reads the earlier ones' files)
EXPECTED = {
    "00_setup.ipynb": [],  # checks the environment and shows the core objects; writes nothing
    "01_api_pool.ipynb": ["pool.jsonl", "figures/01_tree.png", "figures/01_pool_stats.png"],
    "02_dialog_synthesis.ipynb": ["dialogs.jsonl", "figures/02_dialog_stats.png"],
    "03_verification.ipynb": ["dialogs_noisy.jsonl", "kept.jsonl", "rejected.jsonl", "report.json",
                              "toolace_kept.jsonl", "toolace_rejected.jsonl", "trl.jsonl", "bfcl.jsonl",
                              "figures/03_verify_report.png"],
}
# where a notebook that ignored FUNRL_OUT would write
WATCHED = ("outputs", "notebooks", "data")


def _timeout() -> int | None:
    """Seconds a cell (or a script run) may take before the test gives up: FUNRL_NB_TIMEOUT, default 1800; 0 or
    "none" for no limit. Generous on purpose: a limit only catches a hang, and a loaded machine is not a failure."""
    raw = os.environ.get("FUNRL_NB_TIMEOUT", "1800").strip().lower()
    if raw in ("", "0", "none"):
        return None
    return int(float(raw))


TIMEOUT = _timeout()


def _repo_state() -> dict[str, float]:
    state = {p.name: 0.0 for p in ROOT.iterdir()}  # new top-level entries
    for top in WATCHED:
        for p in (ROOT / top).rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts:
                state[str(p.relative_to(ROOT))] = p.stat().st_mtime
    return state


def _use_this_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private Jupyter data dir holding a python3 kernelspec for sys.executable: the kernel runs in this venv, never
    a python3 kernel the user registered elsewhere (the user data dir is searched before the venv's)."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (funrl tests)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)


def _run(name: str):
    """Execute notebook ``name`` headless from notebooks/ (as Jupyter would); raises CellExecutionError naming the
    failing cell."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def _run_smoke_alone(name: str, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run one notebook in smoke mode with FUNRL_OUT=out; assert no cell failed and nothing was written into the
    repository; return the text its cells printed."""
    _use_this_python(tmp_path, monkeypatch)
    monkeypatch.setenv("FUNRL_SMOKE", "1")
    monkeypatch.setenv("FUNRL_OUT", str(out))
    before = _repo_state()
    nb = _run(name)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[:1]
    after = _repo_state()
    assert not sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_notebooks_match_the_build_script():
    r = subprocess.run([sys.executable, "scripts/build_notebooks.py", "--check"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def test_committed_notebooks_have_no_outputs():
    for name in [*EXPECTED, "04_entropy_grpo.ipynb", "05_bfcl_evaluation.ipynb"]:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{name}: cell {cell.id} has outputs"


def test_synthesis_notebooks_run_in_order(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _use_this_python(tmp_path, monkeypatch)
    monkeypatch.setenv("FUNRL_SMOKE", "1")
    monkeypatch.setenv("FUNRL_OUT", str(out))
    for var in ("FUNRL_OPENAI_BASE_URL", "OPENAI_BASE_URL"):  # the LLM cells must take their offline branch
        monkeypatch.delenv(var, raising=False)
    before = _repo_state()
    for name, files in EXPECTED.items():
        nb = _run(name)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: {errors[0]}"
        missing = [f for f in files if not (out / "synth" / f).is_file() or (out / "synth" / f).stat().st_size == 0]
        assert not missing, f"{name} did not write {missing}"
    report = json.loads((out / "synth" / "report.json").read_text())
    assert 0.0 < report["layers"]["final"]["pass_rate"] < 1.0  # the injected defects are caught, clean samples kept
    after = _repo_state()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"running the notebooks wrote into the repository: {changed}"


def test_llm_cells_against_a_loopback_server(tmp_path, monkeypatch):
    """With FUNRL_OPENAI_BASE_URL set, 01 writes APIs with the LLM and 03 runs FunRL's LLM judge (a local fake
    server that answers every judge "pass"); 03 run without 02 rebuilds the missing dialogs itself."""
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    from loopback_server import LoopbackServer, ok

    out = tmp_path / "out"
    _use_this_python(tmp_path, monkeypatch)
    monkeypatch.setenv("FUNRL_SMOKE", "1")
    monkeypatch.setenv("FUNRL_OUT", str(out))
    monkeypatch.setenv("FUNRL_OPENAI_MODEL", "loopback")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def respond(request):  # FunRL's judge gets a verdict; anything else the echo (unusable: quarantined)
        if '"needs_call"' in json.dumps(request.body):
            return ok('{"pass": true, "needs_call": true, "reason": "fine"}')
        return ok()

    with LoopbackServer() as server:
        server.respond = respond
        monkeypatch.setenv("FUNRL_OPENAI_BASE_URL", server.base_url)
        for name in ("01_api_pool.ipynb", "03_verification.ipynb"):
            _run(name)
        assert server.received, "the LLM cells did not call the server"
    assert (out / "synth" / "pool_llm.jsonl").exists() and (out / "synth" / "dialogs.jsonl").exists()
    assert (out / "synth" / "cache" / "llm.sqlite").exists()  # the response cache stays under FUNRL_OUT


@pytest.mark.slow
def test_training_notebook_runs_in_smoke_mode(tmp_path, monkeypatch):
    """04 trains the tiny model (SFT, then GRPO and EGPO) at smoke size and leaves both policies, their logs and the
    plot under FUNRL_OUT/runs/tiny-cpu; its GPU cell takes the no-GPU branch."""
    out = tmp_path / "out"
    text = _run_smoke_alone("04_entropy_grpo.ipynb", out, tmp_path, monkeypatch)
    run = out / "runs" / "tiny-cpu"
    for f in ("sft/final/done.json", "grpo/final/done.json", "egpo/final/done.json", "grpo/log.jsonl",
              "egpo/log.jsonl", "training.png"):
        assert (run / f).is_file(), f
    assert "no CUDA GPU here" in text and "[reward" in text


@pytest.mark.slow
def test_bfcl_notebook_runs_in_smoke_mode(tmp_path, monkeypatch):
    """05 trains its models at smoke size when 04 has not run, generates BFCL result files for each (single-turn and
    one multi-turn entry), scores them and writes the tables and charts under FUNRL_OUT/bfcl/tiny-cpu."""
    out = tmp_path / "out"
    text = _run_smoke_alone("05_bfcl_evaluation.ipynb", out, tmp_path, monkeypatch)
    ev = out / "bfcl" / "tiny-cpu"
    for model in ("base", "sft", "grpo", "egpo"):
        assert (ev / model / "non_live" / "BFCL_v4_simple_python_result.json").is_file()
        assert (ev / f"{model}-multi-turn" / "multi_turn" / "BFCL_v4_multi_turn_base_result.json").is_file()
        summary = json.loads((ev / "scores" / model / "summary.json").read_text())
        assert summary["categories"]["simple_python"]["total"] == 2
    assert (ev / "scores" / "egpo" / "comparison.png").is_file() and (ev / "tiny_models.png").is_file()
    assert "no CUDA GPU here" in text and "multi_turn_base" in text


def test_run_notebooks_script_keeps_executed_copies_and_names_a_failing_cell(tmp_path):
    """scripts/run_notebooks.py (make notebooks): the executed copy has the cells' outputs; a notebook whose cell
    fails stops the run with exit 1 and the error on stderr, its partly executed copy kept."""
    script = [sys.executable, "scripts/run_notebooks.py", "--smoke", "--out", str(tmp_path)]
    r = subprocess.run(script + ["--only", "00"], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr[-2000:]
    nb = nbformat.read(tmp_path / "notebooks" / "00_setup.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "repository:" in printed and "all 1 notebooks ran" in r.stdout
    # a notebook that fails: 00 with an impossible BFCL data location
    r = subprocess.run(script + ["--only", "00"], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                       env={**os.environ, "FUNRL_BFCL_DATA": str(tmp_path / "nowhere")})
    assert r.returncode == 1 and "a cell failed" in r.stderr and "nowhere" in r.stderr
