"""The project installs from its own files: pins agree everywhere, the README's test command is what CI runs."""

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERIFIED = {"torch": "2.13.0", "transformers": "5.17.0", "trl": "1.14.2", "peft": "0.21.2", "datasets": "4.8.5",
            "accelerate": "1.15.0"}


def pins(path):
    out = {}
    for line in (ROOT / path).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_verified_stack_is_pinned():
    req = pins("requirements.txt")
    for name, version in VERIFIED.items():
        assert req.get(name) == version, f"requirements.txt must pin {name}=={version}"
    for name in ("matplotlib", "jupyterlab", "tqdm", "pyyaml", "pytest", "hypothesis"):
        assert name in req, f"requirements.txt must pin {name}"
    assert pins("requirements-bfcl.txt") == {"bfcl-eval": "2026.3.23", "tree-sitter": "0.21.3",
                                             "tree-sitter-java": "0.21.0", "tree-sitter-javascript": "0.21.4",
                                             "rank-bm25": "0.2.2"}
    assert pins("requirements-gpu.txt") == {"unsloth": "2026.10.9", "unsloth_zoo": "2026.10.9"}
    assert "unsloth" not in req  # a GPU extra only


def test_pyproject_extras_match_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["funrl"] == "funrl_lib.cli:main"
    train = {re.split(r"[=<>]", d)[0]: d for d in project["optional-dependencies"]["train"]}
    for name in ("transformers", "trl", "peft", "datasets", "accelerate"):
        assert train[name] == f"{name}=={VERIFIED[name]}"
    assert "<2.15" in train["torch"]  # Unsloth's cap
    assert project["optional-dependencies"]["gpu"] == ["unsloth==2026.10.9", "unsloth_zoo==2026.10.9"]


def test_readme_commands_are_what_ci_and_make_run():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert re.search(r"^make test$", ci, re.M), ".ci/run must call exactly the README's test command"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: setup$", makefile, re.M) and re.search(r"^demo: setup$", makefile, re.M)
    assert "--no-deps -r requirements-bfcl.txt" in makefile


LOGGER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio", "none": None}


def test_every_configs_logger_is_installed_by_the_requirements():
    """A recipe's ``report_to`` must work after ``make setup``: each logger's package is pinned in a requirements
    file, and ``funrl sft/train``'s logger check passes for every shipped config here."""
    import yaml

    from funrl_lib.train.config import load_config
    from funrl_lib.train.run import _check_loggers

    pinned = {}
    for path in sorted(ROOT.glob("requirements*.txt")):
        pinned.update(pins(path.name))
    configs = sorted((ROOT / "configs").glob("*.yaml"))
    assert configs
    for config in configs:
        report_to = (yaml.safe_load(config.read_text()) or {}).get("report_to") or ["none"]
        for name in [report_to] if isinstance(report_to, str) else report_to:
            assert name in LOGGER_PACKAGES, f"{config.name}: report_to {name!r}: which pip package is that?"
            package = LOGGER_PACKAGES[name]
            assert package is None or package in pinned, \
                f"{config.name}: report_to {name!r} needs {package} pinned in a requirements*.txt"
        _check_loggers(load_config(config).report_to)
    # the train extra carries the same pin as requirements.txt
    train = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    assert f"tensorboard=={pinned['tensorboard']}" in train


def test_no_file_points_outside_the_repo_for_its_sources():
    # Citations name the paper (section, equation, table) or the upstream file, never a reference note outside
    # the repository (issue 15).
    bad = []
    for top in ("funrl_lib", "scripts", "notebooks", "benchmarks", "configs", "tests"):
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or path.suffix not in {".py", ".ipynb", ".yaml", ".yml", ".md", ".txt", ".json"}:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            bad += [f"{path.relative_to(ROOT)}: {needle}" for needle in ("../" + "shared", "shared/" + "reference")
                    if needle in text]
    assert not bad, bad


def _funrl_import_graph(top_level_only):
    """funrl_lib module -> the funrl_lib modules it imports (``from .x import``, ``from ..x import``, ``import
    funrl_lib.x``), read with ast; with ``top_level_only`` false, imports inside functions count too."""
    import ast

    def name(path):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name(p): p for p in (ROOT / "funrl_lib").rglob("*.py")}
    graph = {}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps = set()
        for node in (tree.body if top_level_only else ast.walk(tree)):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            deps |= {n for n in names if n in modules and n != mod}
        graph[mod] = deps
    return graph


def _cycles(graph):
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                found.append(tuple(stack[stack.index(dep):]))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_funrl_lib_has_no_import_circles():
    graph = _funrl_import_graph(top_level_only=True)
    assert "funrl_lib.train.logs" in graph["funrl_lib.train.plots"]  # the reader works (relative imports resolve)
    assert _cycles(graph) == []
    assert _cycles(_funrl_import_graph(top_level_only=False)) == []  # not even through imports inside functions


def test_moved_names_stay_importable_from_their_old_modules():
    from funrl_lib import evaluation_defaults, pipeline
    from funrl_lib.train import logs, plots

    assert pipeline.DEFAULT_EVAL is evaluation_defaults.DEFAULT_EVAL
    assert pipeline.SMOKE_EVAL is evaluation_defaults.SMOKE_EVAL
    assert plots.read_log is logs.read_log


def test_no_test_module_imports_another():
    # shared fixtures live in tests/conftest.py, shared helpers in plain modules (bfcl_two_mode_fixtures, tiny_models)
    import ast

    bad = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[-1].startswith("test_") or n.startswith("tests.")]
    assert not bad, bad


def test_the_jsonl_layer_sits_below_every_stage():
    # funrl_lib.io (stdlib only) serves synth, bfcl, train and the CLI; funrl_lib.synth.io only re-exports it
    import subprocess
    import sys

    from funrl_lib import io
    from funrl_lib.synth import io as synth_io

    graph = _funrl_import_graph(top_level_only=False)
    assert graph["funrl_lib.io"] == set()
    assert [m for m, deps in graph.items() if "funrl_lib.synth.io" in deps] == []
    assert all(getattr(synth_io, name) is getattr(io, name) for name in io.__all__)
    assert synth_io.__all__ == io.__all__
    code = "import sys, funrl_lib.io; print(sorted(m for m in ('torch', 'transformers', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_the_llm_backends_sit_below_every_stage():
    # funrl_lib.backends serves synth and bfcl; funrl_lib.synth.backends only re-exports it, and bfcl imports no synth
    from funrl_lib import backends
    from funrl_lib.synth import backends as synth_backends

    graph = _funrl_import_graph(top_level_only=False)
    assert not any(dep.startswith("funrl_lib.synth") for dep in graph["funrl_lib.backends"])
    assert [m for m, deps in graph.items() if "funrl_lib.synth.backends" in deps] == []
    # synth and bfcl no longer import each other (the possible-answer format is funrl_lib.answers)
    stage = {m: (m.split(".") + [""])[1] for m in graph}
    assert [(m, d) for m, deps in graph.items() for d in deps if {stage[m], stage[d]} == {"synth", "bfcl"}] == []
    assert all(getattr(synth_backends, name) is getattr(backends, name) for name in backends.__all__)
    assert synth_backends.__all__ == backends.__all__


def test_every_funrl_lib_module_imports():
    # each module on its own, in a fresh process, so no module works only because another one was imported first
    import subprocess
    import sys

    code = ("import importlib, pkgutil, subprocess, sys, funrl_lib\n"
            "names = [m.name for m in pkgutil.walk_packages(funrl_lib.__path__, 'funrl_lib.')\n"
            "         if not m.name.endswith('__main__')]\n"
            "bad = [n for n in names if subprocess.run([sys.executable, '-c', f'import {n}']).returncode]\n"
            "print(len(names), bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    count, bad = out.split(" ", 1)
    assert int(count) > 40 and bad.strip() == "[]", out


def test_docs_layout_table_matches_the_code():
    # docs/library.md lists every module with its line count; scripts/layout.py --write regenerates it
    import importlib.util
    spec = importlib.util.spec_from_file_location("layout", Path(__file__).resolve().parents[1] / "scripts" / "layout.py")
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    assert layout.current_doc_section() == layout.layout(), "docs/library.md layout is stale: python scripts/layout.py --write"


def _demo_table_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("demo_table", ROOT / "scripts" / "demo_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_demo_table_is_the_one_the_demo_wrote():
    # README.md prints results/demo/table.json (a copy of outputs/demo/table.json of the run results/demo/README.md
    # describes); scripts/demo_table.py --write regenerates the README block, so the two cannot drift apart
    demo = _demo_table_script()
    table = json.loads((ROOT / "results" / "demo" / "table.json").read_text(encoding="utf-8"))
    assert demo.current_readme_section() == demo.render(table), "README demo table is stale: python scripts/demo_table.py --write"
    # and the committed table.md (what the demo wrote beside table.json) shows the same cells
    md = (ROOT / "results" / "demo" / "table.md").read_text(encoding="utf-8")
    for key, _ in demo.ROWS:
        row = next(line for line in md.splitlines() if line.startswith(f"| {key} |"))
        assert row == f"| {key} | " + " | ".join(demo.metric_cell(table["metrics"][key].get(a)) for a in table["arms"]) + " |"


def test_demo_table_render_shows_seeds_and_spread():
    demo = _demo_table_script()
    one = {"arms": ["sft", "egpo"], "seeds": [0], "spread": None,
           "metrics": {"heldout/answer_ok": {"sft": {"mean": 22.2, "n": 1}, "egpo": {"mean": 19.0, "n": 1}}}}
    text = demo.render(one)
    assert text.startswith("Seed 0 (one seed, so no spread)")
    assert "| held-out: exact-call accuracy | 22.2 | 19.0 |" in text
    assert "| BFCL v4 Live | — | — |" in text  # a metric the table lacks is a dash, not a zero
    two = {**one, "seeds": [0, 1], "spread": "ci95",
           "metrics": {"heldout/answer_ok": {"sft": {"mean": 20.6, "n": 2, "ci95": 20.3}}}}
    text = demo.render(two)
    assert text.startswith("Seeds 0, 1 (mean ± half-width of the 95% interval over seeds)")
    assert "| held-out: exact-call accuracy | 20.6 ± 20.3 (n=2) | — |" in text
