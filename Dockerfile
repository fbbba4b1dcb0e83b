# vouch's node-agent image (deploy/kubernetes/daemonset.yaml), which runs `vouch install` and
# `vouch sync`. Build: docker build -t registry.example.com/vouch:0.1.0 .
#
# containerd runs the installed binary on the node, with the node's libraries, not the image's.
# So the binary is linked statically (musl): it runs whatever the node's glibc version is.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN target="$(uname -m)-unknown-linux-musl" \
 && rustup target add "$target" \
 && cargo build --release --locked -p vouch --target "$target" \
 && install -D -m 0755 "target/$target/release/vouch" /out/vouch

# Runs as root: the agent writes root-owned host directories (bin_dir, /etc/vouch).
FROM gcr.io/distroless/static-debian12 AS runtime
COPY --from=build /out/vouch /usr/local/bin/vouch
ENTRYPOINT ["/usr/local/bin/vouch"]
