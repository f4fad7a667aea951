VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/diffland demo --out demo_out

test: $(STAMP)
	$(PY) -m pytest -q -ra -n 2 --dist loadfile --no-loadscope-reorder tests

bench: $(STAMP)
	$(VENV)/bin/diffland bench --out bench_out

clean:
	rm -rf $(VENV) demo_out bench_out .pytest_cache
