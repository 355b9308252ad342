# trailship container image: built in a full Rust image, run from a small distroless one as a
# non-root user. `docker compose` builds it for the worker and the one-shot setup; on its own:
#   docker build -t trailship . && docker run --rm trailship --help
#
# Build stage: the toolchain the crate's rust-version and Cargo.lock need.
FROM rust:1-bookworm AS build
WORKDIR /src
# The image ships a stripped binary (about a seventh of the size with line tables); a local
# `cargo build --release` keeps line tables for profiles and backtraces.
ENV CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols
# Manifests first, with stub targets, so the dependency build is cached until they change.
COPY Cargo.toml Cargo.lock ./
# Patched crates (vendor/README.md), part of the dependency build.
COPY vendor ./vendor
RUN mkdir -p src benches tests/integration \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > benches/ingest.rs && touch tests/integration/main.rs \
 && cargo build --release --locked --bin trailship \
 && rm -rf src
COPY src ./src
COPY mappings ./mappings
COPY dashboards ./dashboards
COPY rules ./rules
# The stubs' build stamps are older than the real sources, so only trailship itself rebuilds.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin trailship

# Runtime: glibc, libgcc, CA certificates and nothing else; uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/trailship /usr/local/bin/trailship
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/trailship"]
CMD ["run"]
