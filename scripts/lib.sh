# Shared by scripts/demo and scripts/bench: installs and starts Debian's docker-registry on a
# free loopback port, and prepares a signed and an unsigned image with vouch-devsign (a
# development-only signer: never use it for real images). Source it; it sets WORK, HOST, VOUCH,
# DEVSIGN, SIGNED/COSE/UNSIGNED (descriptor lines: JWS-signed, COSE-signed, unsigned) and their
# digests, and removes WORK on exit.

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
say() { printf '\n== %s\n' "$*"; }

if [ ! -x /usr/bin/docker-registry ]; then
  say "installing docker-registry (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
  # The package starts a system registry on :5000; the demo runs its own.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    as_root systemctl stop docker-registry || true
  fi
fi

say "cargo build --release --bins"
cargo build --release --bins --quiet
VOUCH=$PWD/target/release/vouch
DEVSIGN=$PWD/target/release/vouch-devsign

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vouch-${VOUCH_SCRIPT:-run}.XXXXXX")
REGISTRY_PID=
cleanup() {
  if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null || true; wait "$REGISTRY_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_registry() {
  local port
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    port_in_use "$port" && continue
    cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: 127.0.0.1:$port
EOF
    /usr/bin/docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
    REGISTRY_PID=$!
    for _ in $(seq 1 150); do
      if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then break; fi
      if port_in_use "$port"; then PORT=$port; return 0; fi
      sleep 0.1
    done
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    REGISTRY_PID=
  done
  echo "docker-registry did not start:" >&2
  cat "$WORK/registry.log" >&2
  return 1
}

# The digest of a descriptor line.
digest_of() { sed -E 's/.*"digest":"([^"]+)".*/\1/' <<<"$1"; }

# Starts the registry, pushes a signed and an unsigned image and writes a vouch config.
prepare_images() {
  say "starting docker-registry"
  start_registry
  HOST=127.0.0.1:$PORT
  echo "registry: http://$HOST (storage in $WORK/storage)"

  say "trust material and signed/unsigned images (vouch-devsign: development and tests only)"
  "$DEVSIGN" init "$WORK/notation"
  SIGNED=$("$DEVSIGN" push-image "$HOST" demo/app signed)
  UNSIGNED=$("$DEVSIGN" push-image "$HOST" demo/app unsigned)
  COSE=$("$DEVSIGN" push-image "$HOST" demo/app cose)
  SIGNED_DIGEST=$(digest_of "$SIGNED")
  UNSIGNED_DIGEST=$(digest_of "$UNSIGNED")
  COSE_DIGEST=$(digest_of "$COSE")
  "$DEVSIGN" sign "$WORK/notation" "$HOST" demo/app "$SIGNED_DIGEST" jws
  "$DEVSIGN" sign "$WORK/notation" "$HOST" demo/app "$COSE_DIGEST" cose

  mkdir -p "$WORK/certs.d/$HOST"
  printf 'server = "http://%s"\n' "$HOST" >"$WORK/certs.d/$HOST/hosts.toml"
  cat >"$WORK/config.toml" <<EOF
mode = "enforce"
cache_dir = "$WORK/cache"
timeout = "8s"

[registry]
hosts_dir = "$WORK/certs.d"

[notation]
trust_policy = "$WORK/notation/trustpolicy.json"
trust_store = "$WORK/notation/truststore"
EOF
  echo "vouch config: $WORK/config.toml"
}
