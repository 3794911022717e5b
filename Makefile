# The two set-up commands of the README: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,jax]'
	touch $@

# Train on the project's own example data: summary on stdout, plot in out/fahrenheit.png.
demo: $(VENV)/.installed
	$(BIN)/trainbot train examples/fahrenheit.csv --predict 200 --plot out/fahrenheit.png

# Lint, the import contracts (pyproject.toml, [tool.importlinter]), then every test
# (PostgreSQL ones too when TRAINBOT_TEST_POSTGRES_URL is set).
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks.run_all
