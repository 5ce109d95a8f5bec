# alertsync in a container: the release binary, the example configuration and playbooks,
# running as an unprivileged user.
#
# This file cannot be built where alertsync is developed and tested (no container runtime
# there), so it holds only steps CI runs on every change: a clean checkout built with the
# locked dependencies by the toolchain CI uses, and files the tests read. Build it with
#   docker build --build-arg ALERTSYNC_COMMIT=$(git rev-parse --short=12 HEAD) -t alertsync .
# and run it with a configuration and a volume for the store:
#   docker run -v ./alertsync.toml:/etc/alertsync/alertsync.toml:ro \
#              -v alertsync-data:/var/lib/alertsync -p 8080:8080 -e ALERTSYNC_TOKEN alertsync
# In a container the service must listen beyond loopback, so the configuration needs
#   [server] listen = "0.0.0.0:8080" and token = "${ALERTSYNC_TOKEN}"
#   [store]  path = "/var/lib/alertsync/alertsync.db"

# --- build -----------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
# `alertsync demo` carries the shipped playbook in the binary.
COPY examples examples
# The commit `alertsync --version` shows (the build context has no .git).
ARG ALERTSYNC_COMMIT=unknown
ENV ALERTSYNC_COMMIT=${ALERTSYNC_COMMIT}
RUN cargo build --release --locked -p alertsync

# --- run -------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/alertsync --shell /usr/sbin/nologin alertsync \
    && install -d -o alertsync -g alertsync -m 0700 /var/lib/alertsync \
    && install -d -m 0755 /etc/alertsync
COPY --from=build /src/target/release/alertsync /usr/local/bin/alertsync
COPY alertsync.example.toml /usr/share/alertsync/alertsync.example.toml
COPY examples/playbooks /usr/share/alertsync/playbooks
USER alertsync
WORKDIR /var/lib/alertsync
VOLUME /var/lib/alertsync
EXPOSE 8080
ENV ALERTSYNC_CONFIG=/etc/alertsync/alertsync.toml ALERTSYNC_LOG_FORMAT=json
ENTRYPOINT ["alertsync"]
CMD ["serve"]
