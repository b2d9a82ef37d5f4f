# syntax=docker/dockerfile:1
# s3gate container image: a multi-stage build producing a static (musl) binary on a minimal,
# non-root runtime image. See docs/deployment.md.
#
#   docker build --build-arg S3GATE_GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t s3gate .
#   docker run -p 9000:9000 -v s3gate-data:/data s3gate

ARG RUST_VERSION=1.95

# ---- build ----------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-alpine AS build
# musl-dev: the C runtime for the bundled SQLite and for ring's assembly.
RUN apk add --no-cache musl-dev
WORKDIR /src
# The build context has no .git (see .dockerignore): pass the commit in for --version.
ARG S3GATE_GIT_COMMIT=unknown
ENV S3GATE_GIT_COMMIT=${S3GATE_GIT_COMMIT}
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p s3gate \
 && cp target/release/s3gate /s3gate \
 && /s3gate --version

# ---- runtime --------------------------------------------------------------------------------
FROM alpine:3.22
# A fixed numeric uid/gid so that volume permissions are predictable across hosts.
RUN addgroup -S -g 10001 s3gate \
 && adduser -S -D -H -u 10001 -G s3gate -h /data s3gate \
 && mkdir -p /data /etc/s3gate \
 && chown s3gate:s3gate /data \
 && chmod 0700 /data
COPY --from=build /s3gate /usr/local/bin/s3gate
USER 10001:10001
VOLUME ["/data"]
# In a container the listeners must bind all interfaces; publish only 9000 to the world and
# keep 9190 (unauthenticated metrics and health) on a private network.
ENV S3GATE_DATA_DIR=/data \
    S3GATE_LISTEN=0.0.0.0:9000 \
    S3GATE_METRICS_LISTEN=0.0.0.0:9190 \
    S3GATE_LOG_FORMAT=json
EXPOSE 9000 9190
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD wget -q -O /dev/null http://127.0.0.1:9190/health/ready || exit 1
ENTRYPOINT ["/usr/local/bin/s3gate"]
CMD ["serve"]
