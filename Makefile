# funrl: the two commands of the README.
#   make demo   set up .venv from the repo's own files, then run the whole pipeline on the CPU (pool -> dialogs ->
#               verification -> SFT -> GRPO and EGPO -> held-out + BFCL evaluation; report in outputs/demo/report.md)
#   make test   set up .venv, then run the tests
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.funrl-setup

.PHONY: setup test demo study notebooks tour bench parity clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-bfcl.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "funrl needs Python >= 3.10 (3.11 is the tested version)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-bfcl.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	@touch $@

test: setup
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/funrl demo --config configs/tiny-cpu.yaml --out outputs/demo

# The miniature study: SFT vs GRPO vs EGPO over 3 seeds on held-out APIs and BFCL (about 30 min on 2 cores).
study: setup
	$(VENV)/bin/funrl study --config configs/tiny-cpu.yaml --seeds 0,1,2 --out outputs/study

# The six notebooks top to bottom, headless, at full tiny size (about 30 min on 2 cores); executed copies in
# outputs/notebooks/. FUNRL_SMOKE-sized: `$(PY) scripts/run_notebooks.py --smoke`.
notebooks: setup
	$(PY) scripts/run_notebooks.py --out outputs

# The function-call core in seconds: decode, check, score BFCL gold and mutated answers.
tour: setup
	$(VENV)/bin/funrl tour --out outputs/tour

# Checker throughput; add OFFICIAL_VENV=/tmp/funrl-bfcl-official (made by `make parity`) for the side-by-side ratio.
bench: setup
	$(PY) benchmarks/checker_speed.py $(if $(OFFICIAL_VENV),--official-venv $(OFFICIAL_VENV))

# Re-record the official checker's verdicts (builds a throwaway venv with the full bfcl-eval; a few minutes):
# prompt mode (tests/fixtures/bfcl_parity) and FC mode (QwenFCHandler; tests/fixtures/bfcl_fc_parity); Java/JS,
# agentic, format sensitivity, and the board's data_overall.csv numbers (tests/fixtures/bfcl_*_parity).
parity: setup
	$(PY) scripts/bfcl_parity.py
	$(PY) scripts/bfcl_parity.py --fc
	$(PY) scripts/bfcl_parity.py --java-js
	$(PY) scripts/bfcl_parity.py --agentic
	$(PY) scripts/bfcl_parity.py --format-sensitivity
	$(PY) scripts/bfcl_parity.py --board

clean:
	rm -rf $(VENV) outputs .pytest_cache
