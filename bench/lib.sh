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

# post PATH JSON: the API's answer (after start_daemon).
post() { curl -sf -K "$work/curlrc" -X POST "$api$1" --data-binary "$2"; }

# timed_task NAME PATH JSON: asks for a task, waits for its end, and sets `last_task`,
# `task_seconds` (request to end) and `task_peak_kib` (the daemon's whole process tree, sampled by
# bench/treepeak.py). A failed task prints its log and exits.
timed_task() {
  local name=$1 path=$2 body=$3 t0 t1 id st sampler
  # Whatever the step before wrote is on disk first: a step must not pay for another's writeback.
  sync
  python3 "$here/bench/treepeak.py" "$daemon_pid" "$work/peak" & sampler=$!
  t0=$(date +%s.%N)
  id=$(post "$path" "$body" | jq -r .task_uuid)
  # One curl per look, no jq: the polling must not take the CPU it measures.
  while :; do
    st=$(curl -sf -K "$work/curlrc" "$api/task/$id" | grep -o '"status":"[a-z]*"' || true)
    case $st in
      *'"done"') break ;;
      *'"failed"'|*'"canceled"') echo "$name: the task ended $st:" >&2
        curl -sf -K "$work/curlrc" "$api/task/$id" | jq -r .log >&2; exit 1 ;;
    esac
    sleep 0.1
  done
  t1=$(date +%s.%N)
  kill -TERM "$sampler"; wait "$sampler" || true
  task_seconds=$(echo "$t1 - $t0" | bc)
  task_peak_kib=$(cat "$work/peak")
  last_task=$id
}
