"""Build the notebooks (00 setup, 01 API pool, 02 dialogs, 03 verification, 04 entropy-guided GRPO, 05 BFCL evaluation) from
the cell lists below.

The notebooks are generated, not edited by hand, so that they review as Python: change a cell here, run
``python scripts/build_notebooks.py``, commit both. The output is deterministic (fixed cell ids, sorted keys, no
outputs, no execution counts), so ``python scripts/build_notebooks.py --check`` can fail CI when a committed notebook
differs from what this script writes. tests/test_notebooks.py executes them headless.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
GITHUB = "funrl/funrl"


def md(text: str) -> tuple[str, str]:
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> tuple[str, str]:
    return ("code", textwrap.dedent(text).strip("\n"))


# ---------------------------------------------------------------------------------------------------------------
# Cells every notebook shares
# ---------------------------------------------------------------------------------------------------------------

def header(fname: str, title: str, story: str) -> tuple[str, str]:
    colab = f"https://colab.research.google.com/github/{GITHUB}/blob/main/notebooks/{fname}"
    kaggle = f"https://kaggle.com/kernels/welcome?src=https://github.com/{GITHUB}/blob/main/notebooks/{fname}"
    badges = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
              f"[![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]({kaggle})")
    return md(f"# {title}\n\n{badges}\n\n" + textwrap.dedent(story).strip("\n"))


TRAIN_PINS = "transformers==5.17.0 trl==1.14.2 peft==0.21.2 datasets==4.8.5 accelerate==1.15.0"


def install(extra: str = "matplotlib", *, gpu: bool = False) -> list[tuple[str, str]]:
    """The install cell. ``extra``: packages this notebook needs beyond ``funrl_lib``'s own; ``gpu``: the notebook
    has a GPU section, so Unsloth (``requirements-gpu.txt``) is installed where a GPU is present, and only there."""
    packages = ", ".join(f'"{x}"' for x in extra.split())
    if gpu:
        story = """
        ## Install

        Detects where it runs. **Colab / Kaggle:** clones the repository, installs `funrl_lib`, the pinned training
        stack and the BFCL data wheel (`--no-deps`) on top of the session's own CUDA torch, and **Unsloth only when a
        GPU is attached** (`nvidia-smi` answers). **Local:** installs nothing (`make setup` did; add
        `pip install -r requirements-gpu.txt` on a CUDA machine for Unsloth) and moves to the repository root so that
        the relative paths below (`configs/`, `outputs/`) resolve. Without a GPU everything below runs on the CPU
        with the tiny model.
        """
    else:
        story = """
        ## Install

        Detects where it runs. **Colab / Kaggle:** clones the repository and installs `funrl_lib` and the BFCL data
        wheel (`--no-deps`); no GPU is needed, so Unsloth is not installed. **Local:** installs nothing (`make setup`
        did) and only moves to the repository root, so that the relative paths below (`data/`, `outputs/`) resolve.
        """
    return [
        md(story),
        code("""
        import os, shutil, subprocess, sys
        from pathlib import Path

        IN_COLAB, IN_KAGGLE = "google.colab" in sys.modules, "KAGGLE_KERNEL_RUN_TYPE" in os.environ
        HAS_GPU = shutil.which("nvidia-smi") is not None and subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True).returncode == 0
        GPU_SECTION = GPU_NOTEBOOK  # whether this notebook has cells that train or generate on a GPU
        NEEDS_UNSLOTH = GPU_SECTION and HAS_GPU  # Unsloth only with a GPU, and only where a notebook uses one


        def pip(*args):
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args], check=True)


        if IN_COLAB or IN_KAGGLE:
            if not Path("pyproject.toml").exists():
                if not Path("funrl").exists():
                    subprocess.run(["git", "clone", "-q", "https://github.com/GITHUB"], check=True)
                os.chdir("funrl")
            # funrl_lib and this notebook's packages, on top of the session's own (CUDA) torch
            pip("-e", ".", PACKAGES)
            pip("--no-deps", "-r", "requirements-bfcl.txt")   # BFCL v4 data; its own dependency set is not needed
            if NEEDS_UNSLOTH:
                pip("-r", "requirements-gpu.txt")
        else:
            os.chdir(next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").exists()))
        sys.path.insert(0, os.getcwd())  # funrl_lib from this checkout, even before the kernel sees a fresh install

        if not NEEDS_UNSLOTH:
            unsloth = "not needed (no GPU)" if GPU_SECTION else "not needed by this notebook"
        elif subprocess.run([sys.executable, "-c", "import unsloth"], capture_output=True).returncode == 0:
            unsloth = "installed"
        else:
            unsloth = "missing: pip install -r requirements-gpu.txt (the GPU cells need it; the CPU cells do not)"
        where = "Colab" if IN_COLAB else "Kaggle" if IN_KAGGLE else "local"
        print(f"repository: {os.getcwd()} ({where}); GPU: {'yes' if HAS_GPU else 'no'}; Unsloth: {unsloth}")
        """.replace("GITHUB", GITHUB).replace("PACKAGES", packages)
              .replace("GPU_NOTEBOOK", "True" if gpu else "False")),
    ]


def parameters(sizes: str, note: str = "") -> list[tuple[str, str]]:
    lines = ['SMOKE = os.environ.get("FUNRL_SMOKE") == "1"',
             'OUT = Path(os.environ.get("FUNRL_OUT", "outputs")) / "synth"',
             'FIGURES = OUT / "figures"',
             "SEED = 0",
             *textwrap.dedent(sizes).strip().splitlines(),
             "FIGURES.mkdir(parents=True, exist_ok=True)",
             'print(f"SMOKE={SMOKE}  OUT={OUT}  SEED={SEED}")']
    return [
        ("markdown", "## Parameters\n\n`FUNRL_SMOKE=1` shrinks every size for a quick run (the tests use it); "
                     "`FUNRL_OUT` moves the outputs\n(default `outputs/`, which git ignores)." + note),
        ("code", "\n".join(lines)),
    ]


def wrote(intro: str, files: list[str]) -> list[tuple[str, str]]:
    listing = "".join(f"\n    {f}," for f in files)
    return [
        md(intro),
        ("code", f"for p in [{listing}\n]:\n"
                 '    print(f"{str(p.relative_to(OUT)):<30} {p.stat().st_size / 1024:>9.1f} KiB")'),
    ]


LOAD_POOL = """
    pool_path = OUT / "pool.jsonl"
    if not pool_path.exists():
        print(f"{pool_path} is missing, so it is built here (01_api_pool.ipynb tells that story)")
        build_pool(N_APIS, SEED, out=pool_path, progress=False)
    pool = load_pool(pool_path)
    print(f"{len(pool)} APIs from {pool_path}")
"""


# ---------------------------------------------------------------------------------------------------------------
# 00: setup and the function-call core
# ---------------------------------------------------------------------------------------------------------------

NB00 = [
    header("00_setup.ipynb", "00 · Setup: the environment, BFCL's data, and the function-call core", """
    Before any data or training: is the environment the one the project was tested with, where is BFCL's data, and
    what are the objects every later notebook passes around — a **tool definition**, a **call**, a **verdict** of
    BFCL's checker, and the **reward** RL trains on. Each cell is a call into `funrl_lib` (`tools.py`, `calls.py`,
    `bfcl/`, `rewards.py`). Nothing here needs a GPU or a model.
    """),
    *install("matplotlib"),
    md("""
    ## The environment

    The verified stack (README "Environment"): torch 2.13.0, transformers 5.17.0, trl 1.14.2 (1.15 crashes on a
    CPU), peft 0.21.2, datasets 4.8.5, accelerate 1.15.0; BFCL's data from `bfcl-eval==2026.3.23` installed with
    `--no-deps`. A GPU is optional (Unsloth and vLLM need one).
    """),
    code("""
    import importlib, platform

    PINS = {"torch": "2.13.0", "transformers": "5.17.0", "trl": "1.14.2", "peft": "0.21.2", "datasets": "4.8.5",
            "accelerate": "1.15.0"}
    print("python", platform.python_version())
    for name, pin in PINS.items():
        try:
            version = importlib.import_module(name).__version__
            flag = "" if version.split("+")[0] == pin else f"   (tested with {pin})"
        except ImportError:
            version, flag = "not installed", "   (needed from notebook 04 on: pip install -r requirements.txt)"
        print(f"{name:<13} {version}{flag}")
    try:
        import torch
        print("GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU: the tiny model)")
    except ImportError:
        pass
    """),
    md("""
    ## BFCL's data

    Read from the installed `bfcl-eval` wheel (or `FUNRL_BFCL_DATA` / `--data-dir`). The checker scores the 11 Python
    single-turn categories; multi-turn runs on BFCL's own simulated backends (notebook 05).
    """),
    code("""
    from funrl_lib.bfcl.data import SUPPORTED_CATEGORIES, bfcl_data_version, find_data_dir, load_category

    print("BFCL data:", find_data_dir(), "version", bfcl_data_version())
    for category in SUPPORTED_CATEGORIES:
        print(f"  {category:<24} {len(load_category(category)):5d} entries")
    """),
    md("""
    ## A tool definition

    BFCL and ToolACE write tools in one dialect (`"type": "dict"`, `"float"`), OpenAI in JSON Schema. `ToolDef` reads
    either and writes both, so the same tool flows from synthesis to training to evaluation.
    """),
    code("""
    import json
    from funrl_lib.tools import ToolDef

    entry = load_category("simple_python")["simple_python_0"]
    tool = entry.functions[0]
    print(entry.question[0][-1]["content"], "\\n")
    print(json.dumps(tool.to_bfcl(), indent=1)[:600], "\\n")
    print(json.dumps(tool.to_openai(), indent=1)[:600])
    """),
    md("""
    ## Calls: decoding model output

    The FunRL output is `<think>…</think>` followed by a Python-syntax call list; BFCL decodes that list with
    Python's `ast` (never `eval`). Other formats (JSON, OpenAI `tool_calls`, Hermes `<tool_call>`) decode to the same
    `Call` objects.
    """),
    code("""
    from funrl_lib.calls import decode_calls, parse_completion, render_calls

    output = "<think>The user wants a triangle area; base 10, height 5.</think>\\n[calculate_triangle_area(base=10, height=5)]"
    parsed = parse_completion(output)
    print("thought:", parsed.thought)
    print("calls:  ", parsed.calls)
    print("as JSON:", render_calls(parsed.calls, "json"))
    print("hermes: ", decode_calls('<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>', "hermes"))
    """),
    md("""
    ## A verdict of BFCL's checker

    funrl's checker reproduces BFCL's AST checker (parity-tested on thousands of official verdicts). A right
    answer, a wrong value, and an answer in a code fence (which BFCL's decoder rejects):
    """),
    code("""
    from funrl_lib.bfcl.checker import gold_calls, score_entry

    right = render_calls(gold_calls(entry.possible_answer))
    wrong = right.replace("10", "11", 1) if "10" in right else right.replace("=", "=9", 1)
    for label, text in [("right", right), ("wrong value", wrong), ("fenced", f"```python\\n{right}\\n```")]:
        verdict = score_entry(entry, text)
        print(f"{label:<12} valid={verdict.valid!s:<5} {verdict.error_type or ''}   {text[:70]}")
    """),
    md("""
    ## The reward

    FunRL's binary reward (`funrl_lib.rewards.funrl_binary`, TRL's reward signature): 1 only if the think template
    is followed **and** the calls pass the checker; for a request no tool serves, 1 for a text answer.
    """),
    code("""
    from funrl_lib.rewards import funrl_binary

    tools_col = json.dumps([t.to_dict() for t in entry.functions])
    truth_col = json.dumps(entry.possible_answer)
    candidates = [f"<think>Use the tool.</think>\\n{right}", right, f"<think>Use the tool.</think>\\n{wrong}"]
    rewards = funrl_binary(completions=candidates, tools=[tools_col] * 3, ground_truth=[truth_col] * 3)
    for c, r in zip(candidates, rewards):
        print(f"reward {r:.0f}  {c[:80]!r}")
    """),
    md("""
    ## What this notebook wrote, and what comes next

    Nothing: it only checked the environment and showed the objects. **Next:** `01_api_pool.ipynb` grows the API
    pool that the dialogs of `02` are made from.
    """),
]


# ---------------------------------------------------------------------------------------------------------------
# 01: the API pool
# ---------------------------------------------------------------------------------------------------------------

NB01 = [
    header("01_api_pool.ipynb", "01 · The API pool: ToolACE's Tool Self-Evolution Synthesis", """
    ToolACE (arXiv 2409.00920, §2.1) does not collect APIs: it *grows* them. An LLM reads API documents and builds an
    **API context tree** of functionalities (speciation); every new API gets a domain, a diversity level and a
    sampled subtree of that tree (adaptation); then an LLM writes the API from the subtree and one example API,
    applying *diversity indicators*: new parameters, constraints, mutated types, updated results (evolution). This
    notebook runs the same three steps with `funrl_lib.synth.api_pool`, offline and deterministically: the tree is
    reviewable YAML, evolution is a set of tree-aware edits, and every API comes with an executor, so the dialogs of
    the next notebook get real tool outputs. It writes the pool that `02_dialog_synthesis.ipynb` turns into dialogs.
    """),
    *install(),
    *parameters("N_APIS = 200 if SMOKE else 2000   # ToolACE's pool: 26,507 APIs"),
    md("""
    ## Load the library

    Everything below is a call into `funrl_lib.synth.api_pool` (the pool) and `funrl_lib.synth.plots` (the figures).
    """),
    code("""
    import json, random

    from funrl_lib.synth.api_pool import (ExecutionError, build_pool, execute, load_pool, load_tree, phrase_request,
                                          pool_stats, sample_arguments)
    from funrl_lib.backends import make_backend
    from funrl_lib.synth.plots import plot_pool_stats, plot_tree
    """),
    md("""
    ## Speciation: the API context tree

    ToolACE's tree comes from an LLM reading technical manuals and API docs (30 domains, 390 subdomains, 3,398
    fine-grained domains in v1). Ours is shipped as data: one YAML file per domain in `data/api_tree/`, each leaf a
    functionality written as `verb phrase (slot, ?optional_slot) -> returned fields`. The slots come from a shared
    vocabulary (`data/api_tree/slots.yaml`), which says what values a `city` or a `check_in_date` takes.
    """),
    code("""
    tree = load_tree()
    print(tree.counts)
    hotels = tree.domain("Travel").subdomains["Hotels"]
    for leaf in hotels[:3]:
        print(" ", leaf.text)
    """),
    md("""
    How the functionalities spread over the domains: a pool that samples leaves uniformly inherits this shape.
    """),
    code("""
    leaves_per_domain = {d.name: sum(map(len, d.subdomains.values())) for d in tree.domains}
    plot_tree(leaves_per_domain, FIGURES / "01_tree.png");
    """),
    md("""
    ## Adaptation and evolution

    Each API gets a **diversity level** (1 to 4; most APIs are simple) and **a subtree** of that many leaves: its
    primary functionality plus siblings from the same subdomain (then cousins from the domain), preferably ones that
    share a slot with it. A diversity-1 API does one thing; a diversity-4 API covers four related functionalities
    with more parameters.
    """),
    code("""
    for leaf in tree.sample_subtree(random.Random(SEED), diversity=3):
        print(" > ".join(leaf.path))
    """),
    md("""
    **Evolution** then edits the draft API, one step per *diversity indicator* of ToolACE:

    | step | ToolACE's indicator | example |
    |---|---|---|
    | `add_parameter` | add new functionalities or parameters | `add_parameter:max_price` (a slot used nearby in the tree) |
    | `add_constraint` | add constraints | an enum, a range, a regex `pattern`, a date `format` |
    | `change_type` | mutate parameter types | `guests: integer -> string`, a scalar into a list |
    | `nest` | (nested types in Table 1) | `check_in_date` + `check_out_date` into a `stay` dict; lists of dicts |
    | `update_returns` | update the returned results | add, rename or restructure a returned field |

    Like ToolACE's *API example buffer*, each API evolves from an example: one of the 64 most recent APIs (its
    `parent`), whose steps it inherits at random before adding fresh ones, so evolution compounds over
    generations. Every API is also checked
    against the ones before it: two APIs with the same normalised name or signature would teach nothing new, so a
    collision regenerates the API.

    `build_pool` writes one JSON line per API as it goes (the CLI resumes a killed run from the file; this notebook
    simply rewrites it, which takes a second or two).
    """),
    code("""
    (OUT / "pool.jsonl").unlink(missing_ok=True)
    pool = build_pool(N_APIS, SEED, out=OUT / "pool.jsonl")
    print(f"{len(pool)} APIs -> {OUT / 'pool.jsonl'}")
    """),
    md("""
    ## What the pool looks like

    `pool_stats` counts what ToolACE's indicators are meant to diversify: domains, parameter types (every schema
    node, nested ones too), nesting depth (0: flat scalars, 1: a dict or list parameter, 2: a list of dicts) and the
    evolution steps applied. *Dependent pairs* count (A, B) where API A returns an id that API B takes: the raw
    material of the dependent dialogs in the next notebook.
    """),
    code("""
    stats = pool_stats(pool)
    for key in ("apis", "domains", "parameters", "parameter_types", "constraints", "diversity", "dependent_pairs"):
        print(f"{key:>16}: {stats[key]}")
    plot_pool_stats(stats, FIGURES / "01_pool_stats.png");
    """),
    md("""
    ## One evolved API

    The API with the most evolution steps: its place in the tree, the subtree it covers, the steps, and the
    definition a dialog will show the model (BFCL's dialect: `dict`, `integer`, `float`).
    """),
    code("""
    api = max(pool, key=lambda r: (len(r.evolution), r.diversity))
    print(f"{api.id}: {api.name}  (domain {api.domain}, diversity {api.diversity}, evolved from {api.parent})")
    print("leaves:   ", [leaf[-1] for leaf in api.leaves])
    print("evolution:", api.evolution)
    definition = json.dumps(api.tool_dict(), indent=1)
    print(definition if len(definition) < 2500 else definition[:2500] + "\\n... (truncated)")
    """),
    md("""
    ## It runs: arguments → request → execution

    The pool is not just definitions. `sample_arguments` draws valid arguments (within enums, ranges, patterns),
    `phrase_request` writes a user request that mentions every value verbatim (what the hallucination check of
    notebook 03 relies on), and `execute` validates the call and returns a result that matches the API's return
    schema, derived from a hash of the call: the same call always gets the same answer.
    """),
    code("""
    rng = random.Random(SEED)
    arguments = sample_arguments(api, rng)
    print("user:     ", phrase_request(api, arguments, rng))
    print("call:     ", api.name, json.dumps(arguments))
    print("result:   ", json.dumps(execute(api, arguments))[:600])
    """),
    md("""
    A call the definition does not allow is refused with the reason, which is what the verifier of notebook 03
    uses to catch wrong calls and tampered tool outputs.
    """),
    code("""
    try:
        execute(api, {**arguments, "color": "blue"})
    except ExecutionError as e:
        print("ExecutionError:", e)
    """),
    md("""
    ## No duplicates

    `signature` normalises an API to its lowercased name without separators plus its sorted `(parameter, type)`
    pairs, so `search_hotels`, `searchHotels` and `search-hotels` with the same parameters collide. The builder
    regenerates an API whose signature or normalised name is already taken:
    """),
    code("""
    print(api.signature)
    print(f"{len({r.signature for r in pool})} distinct signatures for {len(pool)} APIs")
    """),
    md("""
    ## With an LLM backend (optional)

    The same adaptation and diversity indicators can go to an LLM instead (ToolACE's way): `build_pool(...,
    backend=make_backend("openai"))` sends one evolution prompt per API to any OpenAI-compatible server (OpenAI,
    vLLM, SGLang, Ollama), validates each reply, re-asks on a malformed one and quarantines it after the retries
    (`<out>.quarantine.jsonl`). Configure it with environment variables, never in the notebook:

    - `FUNRL_OPENAI_BASE_URL`, e.g. `http://localhost:8000/v1` for a local vLLM server;
    - `FUNRL_OPENAI_MODEL`, the model name the server knows;
    - `OPENAI_API_KEY`, if the server needs one (it is never printed, cached or written to a file).

    Replies are cached (here under `OUT/cache/`), so re-running costs nothing. The cell runs only when a server is
    configured.
    """),
    code("""
    if os.environ.get("FUNRL_OPENAI_BASE_URL"):
        llm = make_backend("openai", cache_path=OUT / "cache" / "llm.sqlite")
        llm_pool = build_pool(10, SEED, backend=llm, out=OUT / "pool_llm.jsonl")
        print(f"{len(llm_pool)} of 10 APIs written by the LLM -> {OUT / 'pool_llm.jsonl'} "
              f"(malformed replies, with the reason: pool_llm.jsonl.quarantine.jsonl)")
    else:
        print("skipped: set FUNRL_OPENAI_BASE_URL (and FUNRL_OPENAI_MODEL) to write APIs with an LLM")
    """),
    md("""
    ## The same from the command line

    ```bash
    funrl pool --backend programmatic --n 2000 --seed 0 --out outputs/synth/pool.jsonl
    ```

    It prints the same statistics, resumes a killed run from the file, and `--backend openai` switches to the LLM.
    """),
    *wrote("""
    ## What this notebook wrote

    The pool (one API per line: definition, return schema, tree path, evolution steps, executor spec) and the
    figures. **Next:** `02_dialog_synthesis.ipynb` reads `OUT/pool.jsonl` and simulates dialogs over it.
    """, ['OUT / "pool.jsonl"', 'FIGURES / "01_tree.png"', 'FIGURES / "01_pool_stats.png"']),
]


# ---------------------------------------------------------------------------------------------------------------
# 02: dialogs
# ---------------------------------------------------------------------------------------------------------------

NB02 = [
    header("02_dialog_synthesis.ipynb", "02 · Dialogs: ToolACE's Self-Guided Dialog Generation", """
    ToolACE (arXiv 2409.00920, §2.2) turns the API pool into training dialogs by simulating three agents (a user, an
    assistant and a tool) over a few candidate APIs, and steers each dialog's difficulty with a complexity evaluator
    (the training model's own loss, Eq. 1). This notebook runs `funrl_lib.synth.dialogs` over the pool of
    `01_api_pool.ipynb`: eight dialog types in a fixed mix, a complexity score per dialog aimed at a target band, and
    the assistant's *formalised thinking* (ToolACE v1) written next to each decision. It writes the dialogs that
    `03_verification.ipynb` checks.
    """),
    *install(),
    *parameters("""
    N_APIS = 200 if SMOKE else 2000       # only used when the pool of notebook 01 is missing
    N_DIALOGS = 300 if SMOKE else 5000    # ToolACE released 11.3k dialogs
    """, " Run `01_api_pool.ipynb` first with the same `FUNRL_OUT`; if its pool is missing it is built here."),
    md("""
    ## Load the library and the pool

    `funrl_lib.synth.dialogs` generates and scores the dialogs; the pool comes from the file notebook 01 wrote.
    """),
    code("""
    import json, textwrap

    from funrl_lib.synth.api_pool import build_pool, load_pool
    from funrl_lib.synth.dialogs import (DEFAULT_MIX, complexity, complexity_parts, dialog_stats, format_stats,
                                         generate_dialogs)
    from funrl_lib.synth.plots import plot_dialog_stats
    from funrl_lib.synth.sample import render_toolace_calls
    """),
    code(LOAD_POOL),
    md("""
    ## Three agents, eight dialog types

    | agent | ToolACE | here (programmatic) |
    |---|---|---|
    | **user** | an LLM that asks, adds information, and makes requests harder or easier (*self-guided complication*) | phrases each request from the call it needs (every value verbatim) in one of four styles |
    | **assistant** | an LLM that calls APIs, asks for missing information, summarises tool output or answers without tools; each action sampled several times and kept only if they agree | writes the *formalised thinking* (need a tool? which one and why? where does each argument come from?), then the calls, a question, a refusal or a summary |
    | **tool** | an LLM that simulates API results | `execute` from notebook 01: real, deterministic results that match the return schema |

    | type | what happens | ToolACE |
    |---|---|---|
    | `single` | one call; candidates from the same subdomain and other domains | single |
    | `parallel` | the same tool 2-4 times in one turn | parallel |
    | `multiple` | one call among similar tools (same subdomain) | (BFCL's *multiple*) |
    | `parallel_multiple` | 2-3 different tools in one turn | parallel |
    | `dependent` | call A, then call B with a value A returned | dependent |
    | `irrelevance` | no candidate can do it: the assistant says so | non-tool |
    | `clarify` | a required value is missing: the assistant asks for it, then calls | multi-type |
    | `multi_turn` | 2-3 requests in sequence, each with its call and summary | multi-turn |

    ToolACE publishes no proportions; `DEFAULT_MIX` leans on single calls (the bulk of BFCL) and keeps every other
    type at 10% or more. Table 7 of the paper shows why the non-tool and clarify types matter: without them BFCL
    irrelevance falls from 86% to 7%.
    """),
    md("""
    ## Generate

    Each dialog is a pure function of (pool, seed, index): the type and the target complexity band come from an
    exact allocation of the mix, so the realised mix matches the target up to rounding. The file is rewritten on
    each run of this notebook (the CLI resumes a killed run instead).
    """),
    code("""
    print("target mix:", DEFAULT_MIX)
    (OUT / "dialogs.jsonl").unlink(missing_ok=True)
    dialogs = generate_dialogs(pool, N_DIALOGS, SEED, out=OUT / "dialogs.jsonl")
    print(f"{len(dialogs)} dialogs -> {OUT / 'dialogs.jsonl'}")
    """),
    md("""
    ## What the dialogs look like in aggregate

    Left: realised type shares next to the target mix. Middle: the complexity scores (target bands: easy < 0.4 ≤
    medium < 0.6 ≤ hard). Right: mean complexity per type: multi-call types and dialogs with many distractors score
    higher.
    """),
    code("""
    stats = dialog_stats(dialogs)
    print(format_stats(stats))
    plot_dialog_stats(stats, FIGURES / "02_dialog_stats.png", target_mix=DEFAULT_MIX);
    """),
    md("""
    ## Reading a dialog

    A small renderer: one line per turn, the assistant's thinking on its own line, calls in ToolACE's released
    syntax, long turns shortened.
    """),
    code("""
    def show(s, width=160):
        print(f"{s.id}  type={s.type}  complexity={s.meta['complexity']}  candidates={s.tool_names()}")
        for m in s.messages:
            if m.think:
                print(f"{'(think)':>11} {textwrap.shorten(m.think, width)}")
            text = render_toolace_calls(m.calls) if m.calls else json.dumps(m.results) if m.results else m.content
            print(f"{m.role:>11} {textwrap.shorten(text, width)}")
    """),
    md("""
    A **dependent** dialog: the second call takes a value the first call *really returned* (`meta["depends"]` says
    which field feeds which parameter), so a model trained on it learns to read tool output.
    """),
    code("""
    dependent = next(s for s in dialogs if s.type == "dependent")
    show(dependent)
    print("depends:", dependent.meta["depends"])
    """),
    md("""
    A **clarify** dialog: the user leaves out a required value, the assistant asks for it by name instead of
    inventing it, and calls once the user answers.
    """),
    code("""
    clarify = next(s for s in dialogs if s.type == "clarify")
    show(clarify)
    print("missing:", clarify.meta["missing"])
    """),
    md(r"""
    ## Complexity

    ToolACE scores a dialog by the loss of the model to be trained, $H_M(x, y) = -\frac{1}{n_y}\sum_i \log
    p(t_i \mid x, t_{<i})$ (Eq. 1), and its Fig. 2 shows that loss rising with the number of candidate APIs, the
    number of calls and how far the request's words are from the API descriptions. The programmatic score uses those
    three quantities directly:

    $$\text{complexity} = 0.35\,\frac{\min(\text{candidates}-1,\,5)}{5} + 0.35\,\frac{\min(\text{calls},\,4)}{4}
    + 0.3\,(1 - \text{overlap})$$

    with *overlap* the share of the called tools' description words found in the user's turns. Each dialog draws a
    target band; the generator sets its knobs (candidates, calls, request style), scores the result and, when it
    misses, nudges the knobs towards the band, up to four attempts (*self-guided complication*).
    """),
    code("""
    for s in (dependent, clarify):
        print(f"{s.id} ({s.type}): {complexity_parts(s)} -> {complexity(s)} (target band {s.meta['band']})")
    """),
    md("""
    ### Optional: ToolACE's loss-based evaluator

    `model_loss` computes Eq. 1 (the mean token loss of the assistant turns) under any `transformers` causal LM. To
    stay offline, the cells below build a *tiny randomly initialised* Qwen2 and a byte-level BPE tokenizer trained on
    a hundred dialogs (nothing is downloaded; a few seconds on a CPU; skipped when `transformers` is not installed).
    An untrained model's loss sits near $\\ln(\\text{vocabulary size})$ for every dialog, so the numbers show the
    mechanics, not a ranking: pass the model you will train (e.g. Qwen2.5-1.5B) to get ToolACE's signal.
    """),
    code("""
    import importlib.util

    RUN_LOSS = importlib.util.find_spec("transformers") is not None
    if RUN_LOSS:
        from funrl_lib.synth.dialogs import model_loss
        from funrl_lib.train.tiny import tiny_qwen2, tiny_tokenizer

        # the tiny local model of 04_entropy_grpo (untrained here): a BPE tokenizer learnt from these dialogs
        tokenizer = tiny_tokenizer([json.dumps(s.to_dict()) for s in dialogs[:100]], vocab_size=400)
        model = tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096, seed=SEED)
    else:
        print("skipped: needs torch and transformers (pip install -e .[train])")
    """),
    md("""
    Two dialogs per type (one in a smoke run), their loss under the tiny model, and their programmatic complexity:
    """),
    code("""
    if RUN_LOSS:
        per_type = 1 if SMOKE else 2
        picked = [s for t in DEFAULT_MIX for s in [d for d in dialogs if d.type == t][:per_type]]
        losses = model_loss(picked, model, tokenizer, store=False)
        print(f"{'type':<18} {'loss':>6}  complexity")
        for s, loss in zip(picked, losses):
            print(f"{s.type:<18} {loss:6.3f}  {s.meta['complexity']}")
    """),
    md("""
    ## The same from the command line

    ```bash
    funrl dialogs --pool outputs/synth/pool.jsonl --n 5000 --seed 0 --out outputs/synth/dialogs.jsonl \\
        --stats outputs/synth/dialog_stats.json
    ```

    `--mix single=.3,parallel=.15,...` and `--complexity-mix easy=.3,medium=.5,hard=.2` change the targets;
    `--backend openai` makes the three agents LLM prompts (the programmatic dialog becomes their plan, and the
    assistant is asked `--votes` times: a turn is kept only when the calls agree, as in ToolACE).
    """),
    *wrote("""
    ## What this notebook wrote

    The dialogs (one per line, in the `funrl` sample format: candidate tools, messages with thinking, calls and tool
    results, and `meta` with type, complexity and band) and the figure. **Next:** `03_verification.ipynb` reads
    `OUT/pool.jsonl` and `OUT/dialogs.jsonl`, injects realistic defects and verifies them.
    """, ['OUT / "dialogs.jsonl"', 'FIGURES / "02_dialog_stats.png"']),
]


# ---------------------------------------------------------------------------------------------------------------
# 03: verification
# ---------------------------------------------------------------------------------------------------------------

NB03 = [
    header("03_verification.ipynb", "03 · Verification: ToolACE's Dual-Layer Verification and FunRL's filter", """
    ToolACE (arXiv 2409.00920, §2.3 and App. B) keeps a synthesized dialog only if it passes two layers: a **rule
    layer** (schema, executability, dialog correctness, consistency; Table 4) and a **model layer** of three LLM
    "expert agents" (hallucinated values, task consistency, tool-response agreement). Its v1 reports 67.9% / 91.1% /
    61.8% passing the rule layer / the model layer / both. FunRL adds a two-stage filter (an LLM re-judges each
    reference answer, then an AST check). This notebook runs `funrl_lib.synth.verify` (with
    `funrl_lib.synth.corrupt` to inject realistic defects) on the dialogs of `02_dialog_synthesis.ipynb` and on
    records in ToolACE's released format, then exports the kept samples for TRL and BFCL
    (`funrl_lib.synth.export`).
    """),
    *install("matplotlib datasets"),
    *parameters("""
    N_APIS = 200 if SMOKE else 2000       # only used when an input of notebooks 01/02 is missing
    N_DIALOGS = 300 if SMOKE else 5000
    CORRUPT_RATE = 0.3
    """, " Run notebooks 01 and 02 first with the same `FUNRL_OUT`; missing inputs are rebuilt here."),
    md("""
    ## Load the library and the inputs

    `funrl_lib.synth.verify` holds the rules and the verifier, `corrupt` the defects, `export` the TRL and BFCL
    rows. The inputs are the pool of notebook 01 and the dialogs of notebook 02.
    """),
    code("""
    import inspect, json, re, textwrap
    from collections import Counter
    from IPython.display import Markdown, display

    from funrl_lib.synth.api_pool import build_pool, load_pool
    from funrl_lib.backends import make_backend
    from funrl_lib.synth.corrupt import CORRUPTIONS, EXPECTED_RULES, corrupt_samples, pool_executor
    from funrl_lib.synth.dialogs import generate_dialogs
    from funrl_lib.synth.export import to_dataset, write_export
    from funrl_lib.io import write_jsonl
    from funrl_lib.synth.plots import plot_verify_report
    from funrl_lib.synth.sample import read_samples
    from funrl_lib.synth.verify import RULES, VerifyContext, funrl_filter, verify_file
    """),
    code(LOAD_POOL + """
    dialogs_path = OUT / "dialogs.jsonl"
    if not dialogs_path.exists():
        print(f"{dialogs_path} is missing, so it is built here (02_dialog_synthesis.ipynb tells that story)")
        generate_dialogs(pool, N_DIALOGS, SEED, out=dialogs_path, progress=False)
    dialogs = [s for _, s, _ in read_samples(dialogs_path)]
    print(f"{len(dialogs)} dialogs from {dialogs_path}")
    """),
    md("""
    ## The rules, layer by layer

    Every check is a function `rule_<name>(sample, ctx)` returning its reasons (empty: pass), registered in `RULES`.
    The rule layer is ToolACE's Table 4 plus three checks it lacked: `execution` (APIGen-style: run each call
    against the pool's implementation and compare the recorded tool output), `date_string_artifacts` (the damage
    found in ToolACE's own released data, below) and `call_parses`. The model layer asks an LLM judge per rule when
    given one, and otherwise runs a deterministic version of the same question.
    """),
    code("""
    def summary(fn):  # the docstring's first sentence, without reST markup, shortened
        first = re.split(r"(?<=[.?])\\s", " ".join(inspect.getdoc(fn).split()), maxsplit=1)[0]
        return textwrap.shorten(re.sub(r":\\w+:|`", "", first), 130, placeholder=" …")

    display(Markdown("| rule | layer | checks |\\n|---|---|---|\\n" + "\\n".join(
        f"| `{r.name}` | {r.layer} | {summary(r.fn)} |" for r in RULES.values())))
    """),
    md("""
    ## Inject defects

    The programmatic generator is correct by construction: verifying its dialogs as they are would pass 100% and
    prove nothing. So, before verifying, `corrupt_samples` damages about 30% of them with the defects an LLM
    generator makes: a missing required argument, an invented parameter or function, a wrong type, a value outside
    the enum, a hallucinated argument, a tool output that contradicts the API, a truncated or empty answer, broken
    characters, swapped roles, a call where no tool applies, and ToolACE's own `date`→`string` damage. Each
    corrupted dialog records its defect in `meta["corruption"]`, so we can measure what the verifier catches.
    `executor=pool_executor(pool)` re-runs a call whose argument was changed, as an LLM tool agent would simulate
    output for the call it is shown, so a hallucinated value is not also betrayed by a stale tool output.
    """),
    code("""
    noisy = corrupt_samples(dialogs, CORRUPT_RATE, SEED, executor=pool_executor(pool))
    write_jsonl(OUT / "dialogs_noisy.jsonl", [s.to_dict() for s, _ in noisy])
    injected = Counter(kind for _, kind in noisy if kind)
    print(f"{sum(injected.values())} of {len(noisy)} dialogs corrupted:", dict(injected.most_common()))
    """),
    md("""
    ## Verify

    `verify_file` runs the rule layer, then the model layer on the rule-passers (as ToolACE does, so the model-layer
    rate is over rule-passers), executing every call against the pool. Kept samples go to `kept.jsonl`, rejected
    ones to `rejected.jsonl` with every failed rule and its reason, and the counts to `report.json`. The files are
    appended as samples are decided so that the CLI can resume a killed run; this notebook starts them afresh.
    """),
    code("""
    for name in ("kept.jsonl", "rejected.jsonl"):
        (OUT / name).unlink(missing_ok=True)
    report = verify_file(OUT / "dialogs_noisy.jsonl", kept_path=OUT / "kept.jsonl",
                         rejected_path=OUT / "rejected.jsonl", report_path=OUT / "report.json", pool=pool,
                         progress=False)
    display(Markdown(report.summary()))
    """),
    md("""
    Left: the share of checked samples passing each rule (blue: rule layer, orange: model layer). Right: the pass
    rate per layer next to ToolACE's. Our rates follow from the 30% we injected, not from a generator's mistakes, so
    the comparison says the verifier's strictness is in the paper's range, not that the data are alike.
    """),
    code("""
    plot_verify_report(report.to_dict(), FIGURES / "03_verify_report.png");
    """),
    md("""
    ### What each rejection says

    A rejected line keeps the sample as it was read and every failed rule with its reasons, naming the turn, the
    call and the parameter:
    """),
    code("""
    rejected = [json.loads(line) for line in open(OUT / "rejected.jsonl", encoding="utf-8")]
    for row in rejected[:4]:
        rule, reasons = next(iter(row["failed"].items()))
        print(f"{row['id']} [{row['sample']['meta'].get('corruption')}] {rule}: {reasons[0][:150]}")
    """),
    md("""
    ### Recall per defect

    For each kind of injected defect: how many were injected, how many were rejected by one of the rules expected to
    catch it (`EXPECTED_RULES`), and how many were rejected at all. The last row counts clean dialogs that were
    rejected (false positives).
    """),
    code("""
    failed = {row["id"]: set(row["failed"]) for row in rejected}
    lines = ["| defect | injected | caught by an expected rule | rejected |", "|---|---|---|---|"]
    for kind in CORRUPTIONS:
        ids = [s.id for s, k in noisy if k == kind]
        caught = sum(bool(failed.get(i, set()) & set(EXPECTED_RULES[kind])) for i in ids)
        rejected_any = sum(i in failed for i in ids)
        lines.append(f"| `{kind}` | {len(ids)} | {caught} ({caught / max(1, len(ids)):.0%}) | {rejected_any} |")
    clean = [s.id for s, k in noisy if k is None]
    lines.append(f"| *none (clean)* | {len(clean)} | - | {sum(i in failed for i in clean)} |")
    display(Markdown("\\n".join(lines)))
    """),
    md("""
    The last column is the recall that matters for the data; the middle one says whether the verifier rejects for
    the right reason. A defect can be caught by an earlier rule than the one expected (a hallucinated value that
    breaks an API's pattern is rejected by `execution`, in the rule layer, before `hallucinated_values` runs).

    ## ToolACE's released format, and its date→string damage

    The released `Team-ACE/ToolACE` data puts the tool list inside a `system` string and writes calls in Python
    syntax with names that may contain spaces: `[Market Trends API(trend_type="GAINERS")]`. It also carries a
    defect its own verification missed: a blanket `date`→`string` substitution turned "up-to-date" into
    "up-to-string", `start_date` into `start_string`, `updatedDate` into `upstringdDate`, and tool outputs into
    `{"string": "2025-01-15"}`. `data/examples/toolace_sample.json` holds eight clean records in that format plus
    three with this damage (in the definition, in the call, in the tool output) and one call to a parameter the
    definition lacks.
    """),
    code("""
    for name in ("toolace_kept.jsonl", "toolace_rejected.jsonl"):
        (OUT / name).unlink(missing_ok=True)
    toolace = verify_file("data/examples/toolace_sample.json", fmt="toolace", kept_path=OUT / "toolace_kept.jsonl",
                          rejected_path=OUT / "toolace_rejected.jsonl", progress=False)
    print(toolace.summary().splitlines()[0])
    for line in open(OUT / "toolace_rejected.jsonl", encoding="utf-8"):
        row = json.loads(line)
        print(f"\\n{row['id']}:")
        for rule, reasons in row["failed"].items():
            print(f"  {rule}: {reasons[0][:140]}")
    """),
    md("""
    The first record is consistent with itself (definition and call both say `start_string`), so only the lexical
    rule `date_string_artifacts` can see it; the third is damaged only in the simulated output. Rules that check a
    call against its definition miss both, which is how the damage got through ToolACE's verification.

    ## FunRL's filter

    FunRL (stage 1) has an LLM judge each reference answer and regenerate a wrong one, then (stage 2) drops answers
    whose shape contradicts the task: a call where no tool applies, or text where a call is needed. Offline, stage 1
    is the two layers above, so only the AST stage is new:
    """),
    code("""
    kept = [s for _, s, _ in read_samples(OUT / "kept.jsonl")]
    outcomes = funrl_filter(kept, ctx=VerifyContext(pool=pool))  # the pool, as verify_file had it
    print(f"{sum(o.kept for o in outcomes)} of {len(kept)} kept samples pass FunRL's AST stage;",
          Counter(o.stage for o in outcomes if not o.kept) or "none dropped")
    """),
    md("""
    With an OpenAI-compatible server (`FUNRL_OPENAI_BASE_URL`, `FUNRL_OPENAI_MODEL`, and `OPENAI_API_KEY` if
    needed; the key is never printed), the judge and the regeneration are real LLM calls. This runs on 20 samples,
    only when a server is configured:
    """),
    code("""
    if os.environ.get("FUNRL_OPENAI_BASE_URL"):
        llm = make_backend("openai", cache_path=OUT / "cache" / "llm.sqlite")
        outcomes = funrl_filter(kept[:20], llm, ctx=VerifyContext(pool=pool, backend=llm))
        print("(kept, stage that dropped it):", dict(Counter((o.kept, o.stage) for o in outcomes)))
        print("answers corrected by the LLM:", sum("corrected" in o.sample.meta for o in outcomes))
    else:
        print("skipped: set FUNRL_OPENAI_BASE_URL (and FUNRL_OPENAI_MODEL) to run FunRL's LLM judge")
    """),
    md("""
    ## Export the kept samples

    **TRL**: one row per decision turn (every call turn, and the first answer after each user turn, so refusals and
    clarifying questions are targets too): a chat `prompt` with the FunRL system prompt, the reference
    `completion` (`<think>…</think>` + answer) for SFT, and `tools` / `ground_truth` as JSON strings, the columns
    `funrl_lib.rewards` reads during GRPO.
    """),
    code("""
    n_trl = write_export(kept, "trl", OUT / "trl.jsonl")
    dataset = to_dataset(kept, "trl")
    print(f"{n_trl} rows -> {OUT / 'trl.jsonl'}")
    print(dataset)
    row = dataset[0]
    print("prompt[-1]:", row["prompt"][-1]["content"][:200])
    print("completion:", row["completion"][0]["content"][:300])
    print("ground_truth:", row["ground_truth"][:200], "| category:", row["category"])
    """),
    md("""
    **BFCL**: the same decision turns as BFCL-style entries (`question`, `function`, `ground_truth` in BFCL's
    possible-answer format, `category`), to score a model on held-out synthetic data with the BFCL checker.
    """),
    code("""
    n_bfcl = write_export(kept, "bfcl", OUT / "bfcl.jsonl")
    entry = json.loads(open(OUT / "bfcl.jsonl", encoding="utf-8").readline())
    print(f"{n_bfcl} entries -> {OUT / 'bfcl.jsonl'}; first: category={entry['category']}, "
          f"ground_truth={json.dumps(entry['ground_truth'])[:200]}")
    """),
    md("""
    ## The same from the command line

    ```bash
    funrl verify --in outputs/synth/dialogs_noisy.jsonl --pool outputs/synth/pool.jsonl \\
        --out outputs/synth/kept.jsonl --rejected outputs/synth/rejected.jsonl --report outputs/synth/report.json
    funrl verify --in data/examples/toolace_sample.json --format toolace \\
        --out outputs/synth/toolace_kept.jsonl --rejected outputs/synth/toolace_rejected.jsonl \\
        --report outputs/synth/toolace_report.json
    funrl export --in outputs/synth/kept.jsonl --to trl --out outputs/synth/trl.jsonl \\
        --dataset outputs/synth/trl_dataset
    funrl export --in outputs/synth/kept.jsonl --to bfcl --out outputs/synth/bfcl.jsonl
    ```

    Add `--funrl-filter` (and `--backend openai`) to `funrl verify` for FunRL's filter.
    """),
    *wrote("""
    ## What this notebook wrote

    The corrupted dialogs, the verdicts (kept / rejected with reasons / report), the ToolACE-format verdicts, and the
    exports. **Next:** `04_entropy_grpo.ipynb` trains on TRL rows like `OUT/trl.jsonl` (its `data.train` setting).
    """, [f'OUT / "{f}"' for f in ("dialogs_noisy.jsonl", "kept.jsonl", "rejected.jsonl", "report.json",
                                      "toolace_kept.jsonl", "toolace_rejected.jsonl", "trl.jsonl", "bfcl.jsonl")]
       + ['FIGURES / "03_verify_report.png"']),
]


# ---------------------------------------------------------------------------------------------------------------
# 04: entropy-guided GRPO
# ---------------------------------------------------------------------------------------------------------------

NB04 = [
    header("04_entropy_grpo.ipynb", "04 · Entropy-guided GRPO (FunRL / EGPO)", """
    GRPO with one change: the advantage of each rollout gets a capped bonus from the entropy of the model's chain of
    thought. This notebook states the method, runs it on the tiny local model on a CPU, once as plain **GRPO** and
    once as **EGPO**, with the same data and seed, and plots both. The last section is the same recipe for a real
    model on a Colab / Kaggle GPU with Unsloth.

    Library: `funrl_lib.train` (`egpo.py` the trainer, `config.py` the recipe, `models.py` loading, `run.py` the
    commands `funrl sft` / `funrl train`). Paper: arXiv 2508.05118, §3.2 and §5.2.
    """),
    *install("matplotlib " + TRAIN_PINS, gpu=True),
    md("""
    ## The method

    For a prompt q the policy samples S rollouts o_1 … o_S, each `<think>` c_1 … c_W `</think>` followed by a call
    list, and the binary reward gives r_i ∈ {0, 1} (1 only if the think template is followed **and** the calls pass
    the BFCL AST check). Then

    $$A_i = \\frac{r_i - \\operatorname{mean}(r_1..r_S)}{\\operatorname{std}(r_1..r_S)} \\qquad \\text{(Eq. 1, GRPO)}$$

    $$E_i = -\\frac{1}{W}\\sum_{j=1}^{W}\\sum_{v \\in V} \\pi(v\\mid q, c_{i,<j})\\,\\log \\pi(v\\mid q, c_{i,<j})
    \\qquad \\text{(Eq. 4, CoT tokens only)}$$

    $$A_i' = A_i + \\min\\Big(\\lambda E_i,\\ \\frac{|A_i|}{\\alpha}\\Big), \\quad \\lambda = 0.4,\\ \\alpha = 2
    \\qquad \\text{(Eq. 5, EGPO)}$$

    E_i is measured without gradient (it shapes the advantage, it is not a loss term). The cap keeps A' on the same
    side of zero as A, and A = 0 (all rollouts of a group equally right or wrong) gets no bonus. The rest is GRPO's
    clipped objective with a KL term (β = 0.001).

    The bonus on one group of 4 rollouts, by hand: rewards [1, 0, 0, 0] give A = [1.5, −0.5, −0.5, −0.5].
    """),
    code("""
    import torch
    from funrl_lib.train.egpo import egpo_advantages

    A = torch.tensor([1.5, -0.5, -0.5, -0.5])
    E = torch.tensor([0.5, 2.0, 0.1, 3.0])              # CoT entropies (nats/token)
    has_think = torch.tensor([True, True, True, False])  # the last rollout never closed </think>
    A_new, bonus, capped = egpo_advantages(A, E, has_think, lam=0.4, alpha=2.0)
    print(" A     E    bonus  capped   A'")
    for row in zip(A.tolist(), E.tolist(), bonus.tolist(), capped.tolist(), A_new.tolist()):
        print("{:5.2f} {:4.1f}  {:5.3f}  {!s:6} {:6.3f}".format(*row))
    """),
    md("""
    ## Parameters

    The recipe is `configs/tiny-cpu.yaml`: the tiny Qwen2 (a few million weights, tokenizer trained on our own
    synthetic dialogs), an SFT warm start, then 40 RL steps with 8 rollouts per prompt. `FUNRL_SMOKE=1` shrinks
    everything to a few steps (the tests use it); `FUNRL_OUT` moves the outputs (default `outputs/`). Re-running a
    cell after an interruption resumes from the last checkpoint; a finished stage is not redone.

    The recipe synthesizes its own rows (`data.train: null`: easy dialogs, so prompts stay short for the tiny
    model). To train on the verified rows of `03_verification.ipynb` instead, add
    `"data.train=outputs/synth/trl.jsonl"` to `overrides`; `make demo` chains pool → dialogs → verification →
    training that way.
    """),
    code("""
    import os
    from pathlib import Path
    from funrl_lib.train.config import SMOKE_OVERRIDES, load_config

    SMOKE = os.environ.get("FUNRL_SMOKE") == "1"
    OUT = Path(os.environ.get("FUNRL_OUT", "outputs"))
    RUN_DIR = OUT / "runs" / "tiny-cpu"
    overrides = [f"output_dir={RUN_DIR}"]
    if SMOKE:
        overrides += SMOKE_OVERRIDES
    cfg = load_config("configs/tiny-cpu.yaml", overrides)
    print(f"SMOKE={SMOKE}  run directory: {cfg.run_dir}")
    print(f"GRPO: lr {cfg.grpo.learning_rate}, {cfg.grpo.num_generations} rollouts, T={cfg.grpo.temperature}, "
          f"beta={cfg.grpo.beta}; EGPO: lambda={cfg.egpo.entropy_lambda}, alpha={cfg.egpo.entropy_alpha}")
    """),
    md("""
    ## SFT warm start

    A random model never writes `<think>…</think>[call(...)]`, so every reward would be 0 and GRPO would have
    nothing to compare. A short SFT on the reference completions (loss on completion tokens only) teaches the format
    first. Same as `funrl sft --config configs/tiny-cpu.yaml`; `train_arms` is the loop `funrl demo` and
    `funrl study` run too (a finished arm is not trained again, an interrupted one resumes).
    """),
    code("""
    from funrl_lib.runs import train_arms

    sft_dir = train_arms(cfg, ["sft"])["sft"]
    """),
    md("""
    ## GRPO, then EGPO

    Same config, data and seed; only `egpo.advantage_mode` differs (`funrl_lib.runs.rl_config(cfg, mode)`), and
    both start from the SFT model above (`grpo.init: sft`). GRPO still measures the CoT entropy (for the curves) but
    leaves the advantages alone. Same as `funrl train --config configs/tiny-cpu.yaml --mode grpo` and `--mode egpo`.
    """),
    code("""
    finals = train_arms(cfg, ["grpo", "egpo"])
    finals
    """),
    md("""
    ## The curves

    Reward, CoT entropy, the bonus, KL and completion length against step, GRPO and EGPO overlaid (faint: raw;
    solid: moving mean). What to expect at this scale: the bonus is a few hundredths of an advantage unit and is
    zero on groups whose rollouts all got the same reward; most of the tiny model's reward comes from abstaining
    correctly on requests no tool serves. The paper's gains need a real model (the GPU section).
    """),
    code("""
    from funrl_lib.train.plots import plot_training

    FIGURE = RUN_DIR / "training.png"
    fig = plot_training(RUN_DIR, FIGURE)
    """),
    code("""
    from funrl_lib.train.logs import read_log

    def summary(mode):
        log = [e for e in read_log(RUN_DIR / mode / "log.jsonl") if "reward" in e]
        mean = lambda k: sum(e.get(k, 0.0) for e in log) / max(len(log), 1)
        return {"steps": len(log), "reward": mean("reward"), "cot_entropy": mean("egpo/cot_entropy"),
                "bonus": mean("egpo/bonus"), "capped_frac": mean("egpo/capped_frac"),
                "no_think_frac": mean("egpo/no_think_frac"), "kl": mean("kl")}

    print(f"{'':5}" + "".join(f"{k:>14}" for k in summary("grpo")))
    for mode in ("grpo", "egpo"):
        print(f"{mode:5}" + "".join(f"{v:>14.4f}" for v in summary(mode).values()))
    """),
    md("""
    ## What the policy writes now

    One prompt the model trained on, three samples from the EGPO policy, with the binary reward of each.
    """),
    code("""
    import json
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from funrl_lib.rewards import make_funrl_binary
    from funrl_lib.io import read_records

    row = next(r.value for r in read_records(RUN_DIR / "data" / "train.jsonl"))
    tok = AutoTokenizer.from_pretrained(finals["egpo"])
    model = AutoModelForCausalLM.from_pretrained(finals["egpo"]).eval()
    enc = tok.apply_chat_template([row["prompt"]], add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(**enc, do_sample=True, temperature=0.7, max_new_tokens=cfg.grpo.max_completion_length,
                             num_return_sequences=3, pad_token_id=tok.pad_token_id)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    rewards = make_funrl_binary()(completions=texts, tools=[row["tools"]] * 3, ground_truth=[row["ground_truth"]] * 3)
    print("user:", row["prompt"][-1]["content"])
    print("reference:", row["completion"][0]["content"], "\\n")
    for text, r in zip(texts, rewards):
        print(f"[reward {r:.0f}]", text[:300])
    """),
    md("""
    ## On a GPU: Qwen2.5 with Unsloth (Colab / Kaggle)

    The same two commands with a real model. `configs/qwen2.5-1.5b-colab-t4.yaml` fits a free 16 GB T4 (4-bit
    Qwen2.5-1.5B-Instruct, LoRA r 16, 4 rollouts); `configs/qwen2.5-coder-7b-unsloth.yaml` is the paper's recipe
    (Qwen2.5-Coder-7B-Instruct, lr 1e-6, T 0.7, 8 rollouts, β 0.001, λ 0.4, α 2) for an A100 / H100. Unsloth must be
    imported before TRL, transformers and PEFT: `funrl sft` / `funrl train` do that first thing when `model.backend`
    is `unsloth` (the cell runs them as fresh processes: this kernel imported TRL above), and the EGPO trainer
    is built on Unsloth's patched `GRPOTrainer` (its per-token path returns no entropies, so E comes from a separate
    no-grad forward pass). Colab sessions end: `save_steps` is small, and re-running the cell resumes.

    The cell below only runs on a machine with a CUDA GPU.
    """),
    code("""
    import subprocess, sys
    import torch

    if torch.cuda.is_available():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "unsloth==2026.10.9", "unsloth_zoo==2026.10.9",
                        "tensorboard"], check=True)  # the recipe's report_to: [tensorboard]
        recipe = "configs/qwen2.5-1.5b-colab-t4.yaml"
        for cmd in (["sft"], ["train", "--mode", "grpo"], ["train", "--mode", "egpo"]):
            subprocess.run([sys.executable, "-m", "funrl_lib", *cmd, "--config", recipe], check=True)
        gpu_run = Path(load_config(recipe).run_dir)
        plot_training(gpu_run, gpu_run / "training.png")
    else:
        print("no CUDA GPU here: skipping the Unsloth recipe")
    """),
    md("""
    ## What this notebook wrote

    Under `RUN_DIR`: the tiny model (`tiny-model/`), the rows every stage read (`data/`), the SFT model
    (`sft/final/`), the GRPO and EGPO policies (`grpo/final/`, `egpo/final/`) with their logs (`*/log.jsonl`), and
    `training.png`. **Next:** `05_bfcl_evaluation.ipynb` evaluates these policies on BFCL.
    """),
    code("""
    for p in [RUN_DIR / "sft" / "final", RUN_DIR / "grpo" / "final", RUN_DIR / "egpo" / "final",
              RUN_DIR / "grpo" / "log.jsonl", RUN_DIR / "egpo" / "log.jsonl", FIGURE]:
        print(f"{str(p.relative_to(RUN_DIR)):<20} {'ok' if p.exists() else 'MISSING'}")
    """),
]


# ---------------------------------------------------------------------------------------------------------------
# 05: BFCL evaluation
# ---------------------------------------------------------------------------------------------------------------

NB05 = [
    header("05_bfcl_evaluation.ipynb", "05 · BFCL v4 evaluation", """
    Turns a model into BFCL v4 numbers that mean what the leaderboard's mean: generation with BFCL's own prompt
    (or the FunRL think prompt) into result files in BFCL's layout, then scoring with funrl's checker (parity-tested
    against the official one; multi-turn entries run on BFCL's own simulated backends and official checker), the
    v4 summaries for the categories present, and published scores beside ours.

    Here: the tiny models of `04_entropy_grpo.ipynb` (untrained base, SFT, GRPO, EGPO) on a stratified subset, on a
    CPU. The GPU section does the same for Qwen2.5-Coder-7B-Instruct and its EGPO LoRA.

    Library: `funrl_lib.bfcl` (`generate.py`, `evaluate.py`, `multi_turn.py`, `prompts.py`, `published.py`);
    commands `funrl bfcl generate` and `funrl bfcl evaluate`.
    """),
    *install("matplotlib " + TRAIN_PINS, gpu=True),
    md("""
    ## Parameters

    `FUNRL_SMOKE=1` shrinks everything (the tests use it); `FUNRL_OUT` moves the outputs (default `outputs/`). The
    models come from `OUT/runs/tiny-cpu/` (notebook 04); a missing one is trained here at smoke size.
    """),
    code("""
    import os
    from pathlib import Path

    SMOKE = os.environ.get("FUNRL_SMOKE") == "1"
    OUT = Path(os.environ.get("FUNRL_OUT", "outputs"))
    RUN_DIR = OUT / "runs" / "tiny-cpu"
    EVAL_DIR = OUT / "bfcl" / "tiny-cpu"
    SINGLE_TURN = (["simple_python", "irrelevance"] if SMOKE else
                   ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "live_simple",
                    "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance"])
    PER_CATEGORY = 2 if SMOKE else 10          # stratified: spread evenly over each category
    MULTI_TURN, MULTI_TURN_N = ["multi_turn_base"], (1 if SMOKE else 4)
    MAX_NEW_TOKENS = 24 if SMOKE else 192   # the FunRL think + call answers of the tiny model take up to ~160
    print(f"SMOKE={SMOKE}  models from {RUN_DIR}  results under {EVAL_DIR}")
    """),
    md("""
    ## The models

    The untrained tiny model, and the SFT, GRPO and EGPO policies trained from it. If notebook 04 has not run, a
    smoke-size version of its training runs here (same library calls, tiny sizes), so this notebook also stands
    alone.
    """),
    code("""
    from funrl_lib.runs import ALL_ARMS, train_arms
    from funrl_lib.train.config import SMOKE_OVERRIDES, load_config

    overrides = [f"output_dir={RUN_DIR}"]
    if SMOKE:
        overrides += SMOKE_OVERRIDES
    cfg = load_config("configs/tiny-cpu.yaml", overrides)
    if not (RUN_DIR / "sft" / "final" / "done.json").exists():
        print("no trained models under", RUN_DIR, "- training them at smoke size (04_entropy_grpo.ipynb is the story)")
    MODELS = train_arms(cfg, ALL_ARMS)  # base (the untrained tiny model), sft, grpo, egpo
    MODELS
    """),
    md("""
    ## Generate

    BFCL's prompting mode would be `prompt="bfcl"`; these models were trained with the FunRL think prompt, so they
    are asked with it (`prompt="funrl"`: BFCL's function docs inside the FunRL template) and the leading
    `<think>…</think>` is stripped from `result` before scoring (the raw text stays in `result_raw`). Re-running the
    cell skips what is already generated. Same as
    `funrl bfcl generate --model DIR --backend hf --prompt funrl --categories ... --limit N --stratified --out DIR`.
    """),
    code("""
    import torch
    from funrl_lib.bfcl.generate import generate

    torch.manual_seed(0)
    for name, path in MODELS.items():
        generate(str(path), backend="hf", categories=SINGLE_TURN, limit=PER_CATEGORY, stratified=True, seed=0,
                 prompt="funrl", batch_size=8, max_new_tokens=MAX_NEW_TOKENS, temperature=0.0, model_name=name,
                 out=EVAL_DIR, progress=not SMOKE)
        # multi-turn runs on BFCL's simulated backends with BFCL's own prompt (the loop executes every decoded call)
        generate(str(path), backend="hf", categories=MULTI_TURN, limit=MULTI_TURN_N, stratified=True, seed=0,
                 prompt="bfcl", batch_size=1, max_new_tokens=MAX_NEW_TOKENS, temperature=0.0,
                 model_name=f"{name}-multi-turn", out=EVAL_DIR, progress=False)
    sorted(str(p.relative_to(EVAL_DIR)) for p in EVAL_DIR.rglob("BFCL_v4_*_result.json"))[:6]
    """),
    md("""
    ## Evaluate

    Every result file under a model's folder is scored; `summary.json` holds per-category accuracy and counts and
    the v4 summaries computed over the categories present (the ones missing are named, never counted as 0). A
    subset of a category is marked partial.
    """),
    code("""
    import json
    from funrl_lib.bfcl.evaluate import evaluate_results, write_outputs

    summaries = {}
    for name in MODELS:
        # single-turn (FunRL prompt) and multi-turn (BFCL prompt) results sit in two folders: one model, one summary
        summary, reports = evaluate_results([EVAL_DIR / name, EVAL_DIR / f"{name}-multi-turn"])
        summaries[name] = summary
        write_outputs(summary, reports, EVAL_DIR / "scores" / name, label=f"tiny {name}", plot=(name == "egpo"))

    cats = [c for c in SINGLE_TURN + MULTI_TURN if c in summaries["egpo"]["categories"]]
    print(f"{'category':<24}" + "".join(f"{m:>9}" for m in MODELS) + "   (accuracy %, n per category)")
    for c in cats:
        row = [summaries[m]["categories"][c] for m in MODELS]
        print(f"{c:<24}" + "".join(f"{100 * r['accuracy']:9.1f}" for r in row) + f"   n={row[0]['total']}")
    for s in ("non_live", "live", "irrelevance", "relevance"):
        vals = [summaries[m]["summaries"][s]["score"] for m in MODELS]
        if vals[0] is not None:
            print(f"{'[' + s + ']':<24}" + "".join(f"{100 * v:9.1f}" for v in vals))
    """),
    md("""
    The same as a chart, and BFCL's published scores beside the EGPO model (`summary.md` and `comparison.png` under
    `OUT/bfcl/tiny-cpu/scores/egpo/`). At this scale the tiny models mostly score on irrelevance, where an answer
    that is not a call counts as a correct refusal (BFCL's rule); exact calls on BFCL's real APIs are beyond a
    model of a few million weights trained for minutes. The numbers are what they are; the pipeline is the point.
    """),
    code("""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / len(MODELS)
    for k, m in enumerate(MODELS):
        ax.bar([i + k * width for i in range(len(cats))],
               [100 * summaries[m]["categories"][c]["accuracy"] for c in cats], width, label=m)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(cats))])
    ax.set_xticklabels(cats, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"BFCL v4, stratified subset ({PER_CATEGORY} per category), tiny models")
    ax.legend(fontsize=8)
    fig.tight_layout()
    FIGURE = EVAL_DIR / "tiny_models.png"
    fig.savefig(FIGURE, dpi=110)
    print((EVAL_DIR / "scores" / "egpo" / "summary.md").read_text().split("Published scores")[0][-900:])
    """),
    md("""
    ## On a GPU: Qwen2.5-Coder-7B-Instruct and its EGPO LoRA

    The paper's base model, in BFCL's prompting mode, against the same model with the LoRA that
    `configs/qwen2.5-coder-7b-unsloth.yaml` trains (asked with the FunRL prompt it was trained on). vLLM does the
    generation (`pip install vllm`); the full single-turn set takes minutes on an A100/H100. The cell runs only
    where CUDA is available.
    """),
    code("""
    if torch.cuda.is_available():
        gpu_out = OUT / "bfcl" / "qwen2.5-coder-7b"
        lora = OUT / "runs" / "qwen2.5-coder-7b-egpo" / "egpo" / "final"
        generate("Qwen/Qwen2.5-Coder-7B-Instruct", backend="vllm", categories="single_turn", prompt="bfcl",
                 model_name="Qwen2.5-Coder-7B-Instruct", out=gpu_out)
        if lora.exists():
            generate(str(lora), backend="vllm", categories="single_turn", prompt="funrl",
                     model_name="Qwen2.5-Coder-7B-EGPO", out=gpu_out)
        for name in ("Qwen2.5-Coder-7B-Instruct", "Qwen2.5-Coder-7B-EGPO"):
            if (gpu_out / name).exists():
                summary, reports = evaluate_results(gpu_out / name)
                write_outputs(summary, reports, gpu_out / "scores" / name, label=name)
                print(name, {k: v["score"] for k, v in summary["summaries"].items()})
    else:
        print("no CUDA GPU here: skipping the Qwen2.5-Coder-7B evaluation")
    """),
    md("""
    ## What this notebook wrote

    Result files in BFCL's layout under `OUT/bfcl/tiny-cpu/<model>/`, the scores (`summary.json`, `summary.md`,
    `errors.json`, `verdicts/`, `comparison.png`) under `OUT/bfcl/tiny-cpu/scores/<model>/`, and the chart
    `tiny_models.png`. The official `bfcl evaluate` can read the same result files. **Next:** this is the last
    notebook. `make demo` runs the whole pipeline in one command (report in `outputs/demo/report.md`), `funrl study`
    repeats the SFT / GRPO / EGPO comparison over seeds with 95% intervals, and the README's GPU recipes train
    Qwen2.5 models with the same code.
    """),
    code("""
    for p in [EVAL_DIR / "egpo", EVAL_DIR / "scores" / "egpo" / "summary.json",
              EVAL_DIR / "scores" / "egpo" / "comparison.png", FIGURE]:
        print(f"{str(p.relative_to(EVAL_DIR)):<32} {'ok' if p.exists() else 'MISSING'}")
    """),
]


NOTEBOOKS = {"00_setup.ipynb": NB00, "01_api_pool.ipynb": NB01, "02_dialog_synthesis.ipynb": NB02, "03_verification.ipynb": NB03,
             "04_entropy_grpo.ipynb": NB04, "05_bfcl_evaluation.ipynb": NB05}


def build(cells: list[tuple[str, str]], stem: str) -> str:
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell.id = f"{stem}-{i:02d}"  # fixed ids: the same cells always give the same bytes
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a notebook differs from what would be written")
    args = ap.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = NOTEBOOKS_DIR / name
        text = build(cells, name.split("_")[0])
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(NOTEBOOKS_DIR.parent)} ({len(cells)} cells)")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/build_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
