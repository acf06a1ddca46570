# rosterd container image: `docker build -t rosterd .`
# Build stage: the release binary (reqwest with rustls: no OpenSSL at run time).
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The whole project (see .dockerignore): benches and tests are part of the manifest.
COPY . .
RUN cargo build --release --locked --bin rosterd \
 && strip target/release/rosterd

# Run stage: Debian slim with CA certificates, a non-root user, nothing else.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 rosterd \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/rosterd --shell /usr/sbin/nologin rosterd \
 && install -d -o 65532 -g 65532 -m 0700 /var/lib/rosterd
COPY --from=build /src/target/release/rosterd /usr/local/bin/rosterd
USER 65532:65532
ENV ROSTERD_LOG_FORMAT=json \
    STATE_DIRECTORY=/var/lib/rosterd \
    ROSTERD_CONFIG=/etc/rosterd/config/rosterd.yaml
VOLUME ["/var/lib/rosterd"]
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/rosterd"]
CMD ["run", "--config", "/etc/rosterd/config/rosterd.yaml"]
