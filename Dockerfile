# Build the single `latch` binary, then ship it on a small base image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# webauthn-rs (passkeys) links OpenSSL: its headers to build, libssl3 to run.
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --bin latch

FROM debian:bookworm-slim
# curl only for the container health check (GET /readyz); libssl3 for webauthn-rs (passkeys).
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/latch --create-home latch
COPY --from=build /src/target/release/latch /usr/local/bin/latch
USER latch
WORKDIR /var/lib/latch
ENV LATCH_BIND=0.0.0.0:8080
EXPOSE 8080
# Ready = the database answers and migrations are applied (GET /readyz, 503 otherwise).
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["latch"]
CMD ["serve"]
