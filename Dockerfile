# syntax=docker/dockerfile:1
# MessageBridge in a container: built with Swift 6.3, run on debian:bookworm-slim with only the C libraries the
# binary links (SQLite, librdkafka) and CA certificates, as the non-root user messagebridge (uid 10001).
# Same paths and port as the systemd installation: /etc/messagebridge/config.yaml, /var/lib/messagebridge
# (a volume: the database, its backups and attachments), 8080.
#
#   docker build -t messagebridge:latest .        (make docker-build)
#   docker run -d --name messagebridge -p 8080:8080 -v messagebridge-data:/var/lib/messagebridge messagebridge
#   docker run ... -v ./config.yaml:/etc/messagebridge/config.yaml:ro messagebridge     your own configuration
#
# Without a mounted configuration the image's own is used: `messagebridge init` with the database in the volume.

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
# librdkafka-dev and libsqlite3-dev: the headers and libraries the CRdKafka and GRDB modules build against.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libsqlite3-dev librdkafka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a change to the sources alone does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
# The Swift runtime linked in (as in the release tarball), so the runtime image needs no Swift; lld and Foundation's
# own libraries named make the static Foundation link of SwiftPM 6.3 work (scripts/release.sh says why).
RUN printf '{ "schemaVersion": "1.0", "linker": { "path": "%s" } }\n' "$(dirname "$(readlink -f "$(command -v swift)")")/ld.lld" >/tmp/toolset.json \
    && swift build -c release --product messagebridge --static-swift-stdlib --toolset /tmp/toolset.json \
        -Xlinker -lCoreFoundation -Xlinker -l_FoundationICU -Xlinker -l_FoundationCollections -Xlinker -l_FoundationCShims \
    && mkdir -p /staging \
    && cp "$(swift build -c release --show-bin-path)/messagebridge" /staging/ \
    && cp -R "$(swift build -c release --show-bin-path)/MessageBridge_App.resources" /staging/
# The image's default configuration: the starter one, database in the volume, JSON logs to stdout.
RUN /staging/messagebridge init --output /staging/config.yaml >/dev/null \
    && sed -i 's|^  database_path: .*|  database_path: "/var/lib/messagebridge/messagebridge.db"|' /staging/config.yaml \
    && /staging/messagebridge check-config /staging/config.yaml

FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libsqlite3-0 librdkafka1 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 messagebridge \
    && useradd --system --uid 10001 --gid messagebridge --home-dir /var/lib/messagebridge --no-create-home \
        --shell /usr/sbin/nologin messagebridge \
    && install -d -o messagebridge -g messagebridge -m 0750 /var/lib/messagebridge \
    && install -d -o root -g messagebridge -m 0750 /etc/messagebridge
# The binary finds its resource bundle beside it.
COPY --from=build /staging/messagebridge /usr/local/lib/messagebridge/messagebridge
COPY --from=build /staging/MessageBridge_App.resources /usr/local/lib/messagebridge/MessageBridge_App.resources
COPY --from=build --chown=root:messagebridge --chmod=0640 /staging/config.yaml /etc/messagebridge/config.yaml
RUN ln -s /usr/local/lib/messagebridge/messagebridge /usr/local/bin/messagebridge

USER messagebridge
WORKDIR /var/lib/messagebridge
VOLUME ["/var/lib/messagebridge"]
EXPOSE 8080
# MESSAGEBRIDGE_SERVER_HOST/PORT, MESSAGEBRIDGE_SQLITE_DATABASE_PATH, MESSAGEBRIDGE_KAFKA_SASL_PASSWORD,
# JWT_SECRET, LOG_LEVEL ... override the configuration, as under systemd.
ENV MESSAGEBRIDGE_SERVER_HOST=0.0.0.0
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${MESSAGEBRIDGE_SERVER_PORT:-8080}/health/live" >/dev/null || exit 1
# SIGTERM (docker stop) is a graceful shutdown; give it server.shutdown_timeout: docker stop -t 45.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/lib/messagebridge/messagebridge"]
CMD ["serve", "--config", "/etc/messagebridge/config.yaml"]
