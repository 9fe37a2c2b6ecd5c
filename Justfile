# Developer shortcuts (https://github.com/casey/just). Each recipe is plain shell you can copy.

venv := ".venv/bin"

# Install the project and its development tools into .venv
setup:
    python3 -m venv .venv
    {{venv}}/python -m pip install --upgrade pip
    {{venv}}/python -m pip install -e ".[dev]"

# Run the test suite
test *ARGS:
    {{venv}}/python -m pytest {{ARGS}}

# Lint, format check and strict typing
lint:
    {{venv}}/ruff check replicator tests
    {{venv}}/ruff format --check replicator tests
    {{venv}}/mypy --strict replicator

# Replicate the demo data in configs/demo into ./demo-output
demo:
    {{venv}}/replicate snapshot --config configs/demo.toml

# Run the benchmark suite (see tests/benchmarks)
bench *ARGS:
    {{venv}}/python -m tests.benchmarks {{ARGS}}
