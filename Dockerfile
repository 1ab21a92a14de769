# Build the single `latch` binary, then ship it on a small base image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin latch

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/latch --create-home latch
COPY --from=build /src/target/release/latch /usr/local/bin/latch
USER latch
WORKDIR /var/lib/latch
ENV LATCH_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["latch"]
CMD ["serve"]
