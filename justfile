# Convenience recipes. Nothing requires `just`: each recipe is a plain command.

# Run the server on the embedded SQLite default.
serve:
    cargo run --release

# Run every test (PostgreSQL variants too when KEYGATE_TEST_POSTGRES_URL is set).
test:
    cargo test --workspace

# What CI runs.
ci:
    bash .ci/run

# Create the first operator keypair.
bootstrap:
    cargo run --release -- bootstrap

# The /token load benchmark against the peer and the floor (docs/benchmarks.md).
bench-load *ARGS:
    bash bench/load.sh {{ARGS}}

# CPU instructions per /token request under callgrind (docs/benchmarks.md,
# "Status claim cost"); e.g. `just bench-instructions --runs 3 500 1500`.
bench-instructions *ARGS:
    bash bench/token-instructions.sh {{ARGS}}

# Micro-benchmarks (criterion).
bench:
    cargo bench --workspace

# The bounded soak (docs/security.md); argument: seconds (default 180).
soak SECONDS="180":
    bash bench/soak.sh {{SECONDS}}
