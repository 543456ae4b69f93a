"""The project installs from its own files: pins agree everywhere, the README's test command is what CI runs."""

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
