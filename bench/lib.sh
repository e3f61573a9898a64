# bench/lib.sh: what the benchmarks share. `start_daemon BIN WORK` starts `bulwark server` on a
# free port with a data directory in WORK, makes an admin on it, logs in, and sets `api` (the
# /v1 URL), `daemon_pid`, and `$WORK/curlrc`, a curl configuration with the session token and the
# JSON content type (the token stays off command lines): `curl -K "$work/curlrc" ...`.

start_daemon() {
  local bin=$1 work=$2
  mkdir -p "$work/daemon"
  cat > "$work/bulwark.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$work/daemon"
timezone = "UTC"
TOML
  local password
  password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '%s\n' "$password" | "$bin" user add bench --role admin --password-stdin --config "$work/bulwark.toml" > /dev/null
  "$bin" server --config "$work/bulwark.toml" > "$work/daemon.out" 2> "$work/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/daemon.out" 2>/dev/null && break; sleep 0.1; done
  api=$(sed -n 's/.*listening on \(http[^ ]*\/v1\).*/\1/p' "$work/daemon.out")
  local token
  token=$(printf '{"username": "bench", "password": "%s"}' "$password" \
    | curl -sf -X POST "$api/auth/login" -H 'Content-Type: application/json' --data-binary @- | jq -r .token)
  umask 077
  printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' "$token" > "$work/curlrc"
}
