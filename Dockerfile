# syntax=docker/dockerfile:1
# The ninefold image: the one binary (run, merge, gateway, backend, toxiproxy)
# on Debian slim, as a non-root user. redis-server is included so that
# scenarios with `store = "redis"` work in a pod; build with
# `--build-arg WITH_REDIS=false` for a smaller image without it.
#
#   docker build -t ninefold:local .
#   docker run --rm ninefold:local run --help

FROM rust:1-bookworm AS builder
WORKDIR /src
# Dependencies first, so that editing ninefold's sources does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY mock-backends/Cargo.toml mock-backends/Cargo.toml
COPY reference-gateway/Cargo.toml reference-gateway/Cargo.toml
RUN mkdir -p src mock-backends/src reference-gateway/src \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && touch mock-backends/src/lib.rs reference-gateway/src/lib.rs \
    && cargo build --release --locked --bin ninefold || true
COPY . .
# Make sure the real sources are newer than the placeholders built above.
RUN touch src/main.rs src/lib.rs mock-backends/src/lib.rs reference-gateway/src/lib.rs \
    && cargo build --release --locked --bin ninefold

FROM debian:bookworm-slim
ARG WITH_REDIS=true
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && if [ "$WITH_REDIS" = "true" ]; then apt-get install -y --no-install-recommends redis-server; fi \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 ninefold \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/ninefold ninefold
COPY --from=builder /src/target/release/ninefold /usr/local/bin/ninefold
COPY scenarios /opt/ninefold/scenarios
USER 10001:10001
WORKDIR /home/ninefold
ENTRYPOINT ["ninefold"]
CMD ["--help"]
