#!/usr/bin/env bash
# bench/postgres.sh: a PostgreSQL backup through the daemon (the built-in postgres target) into a
# plain fs store and into a repository store, against `pg_dump -Fc -Z0 > /dev/null` alone on the
# same database; then, into the repository store, what a second backup adds after a 1% change.
#
#   bench/postgres.sh               # pgbench scale 70 (about 1 GB in the database), RUNS=3
#   SCALE=10 RUNS=1 bench/postgres.sh
#
# The database is pgbench's (`pgbench -i -s SCALE`), made once in a throwaway cluster under
# $BENCH_DIR/pg-sSCALE (default /var/tmp/bulwark-bench) that the script starts on a free port and
# stops at the end; each run copies it (CREATE DATABASE ... TEMPLATE) and measures the copy. The 1% change: the pgbench_accounts rows of a contiguous 0.5% range of keys
# updated (new balances and filler), plus 0.5% new rows: the kind of day a table has when
# recent records change and new ones arrive. A change spread evenly over every page would touch
# every chunk of any deduplicating store.
#
# Needs: PostgreSQL's server binaries (initdb, pg_ctl, pgbench), curl, jq, bc, a release build
# (made if missing). Runs as root (the cluster then runs as user postgres) or as any user.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench_dir=${BENCH_DIR:-/var/tmp/bulwark-bench}
scale=${SCALE:-70}
runs=${RUNS:-3}
target_dir=${CARGO_TARGET_DIR:-$here/target}
bin=$target_dir/release/bulwark
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL's server binaries are needed (apt-get install postgresql)" >&2; exit 1; }
(cd "$here" && CARGO_TARGET_DIR=$target_dir cargo build --release --locked -p bulwark >&2)

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgdir=$bench_dir/pg-s$scale
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGPASSWORD=bench-pg-password PGDATABASE=bench_run
mkdir -p "$bench_dir"
if [ ! -f "$pgdir/ready" ]; then
  rm -rf "$pgdir"; mkdir -p "$pgdir"
  [ "$(id -u)" = 0 ] && chown postgres: "$pgdir"
  echo "$PGPASSWORD" > "$pgdir/pw"; [ "$(id -u)" = 0 ] && chown postgres: "$pgdir/pw"
  as_pg "$pgbin/initdb" -D "$pgdir/data" -A scram-sha-256 -U postgres --pwfile="$pgdir/pw" -E UTF8 --no-locale > /dev/null
fi
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c shared_buffers=256MB" start > /dev/null

work=$(mktemp -d "$bench_dir/pg-run.XXXXXX")
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -f "$pgdir/ready" ]; then
  echo "making pgbench's tables at scale $scale ..." >&2
  psql -X -q -d postgres -c "CREATE DATABASE bench"
  "$pgbin/pgbench" -i -q -s "$scale" bench > /dev/null 2>&1
  psql -X -q -d bench -c "VACUUM ANALYZE"
  touch "$pgdir/ready"
fi
# Every run works on a fresh copy, which the 1% change then changes.
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS bench_run" -c "CREATE DATABASE bench_run TEMPLATE bench"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }

db_bytes=$(psql -X -tA -c "SELECT pg_database_size('bench_run')")
dump_bytes=$("$pgbin/pg_dump" -Fc -Z0 | wc -c)
echo "database: pgbench scale $scale, $((db_bytes / 1048576)) MiB on disk, dump $((dump_bytes / 1048576)) MiB"

# The daemon with its defaults.
. "$here/bench/lib.sh"
start_daemon "$bin" "$work"
post() { curl -K "$work/curlrc" -sf -X POST "$api$1" -d "$2"; }
endpoint="{\"host\":\"127.0.0.1\",\"port\":$port,\"user\":\"postgres\",\"password\":\"$PGPASSWORD\",\"database\":\"bench_run\"}"
target=$(post /targets "{\"name\":\"bench\",\"plugin\":\"postgres\",\"endpoint\":$endpoint,\"agent\":\"127.0.0.1:5444\"}" | jq -r .uuid)
sched=$(post /schedules '{"name":"never soon","when":"daily at 4am"}' | jq -r .uuid)
ret=$(post /retention '{"name":"a day","expires":86400}' | jq -r .uuid)
job_for() {
  local store
  store=$(post /stores "{\"name\":\"$1 $RANDOM$RANDOM\",\"plugin\":\"$1\",\"endpoint\":$2}" | jq -r .uuid)
  post /jobs "{\"name\":\"$1 $RANDOM$RANDOM\",\"target\":\"$target\",\"store\":\"$store\",\"schedule\":\"$sched\",\"retention\":\"$ret\",\"paused\":true}" | jq -r .uuid
}
fs_job=$(job_for fs "{\"base_dir\":\"$work/fs-store\"}")

# Follows the task's log until it ends (one request, no polling), then checks how it ended.
wait_task() {
  curl -K "$work/curlrc" -sfN "$api/task/$1/log?follow=t" > /dev/null
  local status
  status=$(curl -K "$work/curlrc" -sf "$api/task/$1" | jq -r .status)
  [ "$status" = done ] || { curl -K "$work/curlrc" -sf "$api/task/$1" | jq -r .log >&2; return 1; }
}
# Runs a job; prints "seconds archive_uuid".
backup() {
  local t task
  t=$(now)
  task=$(post "/job/$1/run" '{}' | jq -r .task_uuid)
  wait_task "$task"
  echo "$(elapsed "$t") $(curl -K "$work/curlrc" -sf "$api/task/$task" | jq -r .archive_uuid)"
}

raw=(); fs=(); repo=()
for r in $(seq "$runs"); do
  echo "run $r/$runs ..." >&2
  t=$(now); "$pgbin/pg_dump" -Fc -Z0 > /dev/null; raw+=("$(elapsed "$t")")
  read -r s _ < <(backup "$fs_job"); fs+=("$s")
  # Each run into a new repository: the first backup, which stores everything.
  repo_job=$(job_for repository "{\"path\":\"$work/repository-$r\"}")
  read -r s repo_archive < <(backup "$repo_job"); repo+=("$s")
done
raw_s=$(printf '%s\n' "${raw[@]}" | median)
fs_s=$(printf '%s\n' "${fs[@]}" | median)
repo_s=$(printf '%s\n' "${repo[@]}" | median)
repo_first_added=$(curl -K "$work/curlrc" -sf "$api/archive/$repo_archive" | jq -r .added)

# The 1% change, then one more backup into the repository.
rows=$((scale * 100000))
half=$((rows / 200))
from=$((rows / 2))
psql -X -q -c "UPDATE pgbench_accounts SET abalance = abalance + 7, filler = md5(aid::text) WHERE aid > $from AND aid <= $from + $half"
psql -X -q -c "INSERT INTO pgbench_accounts SELECT aid, 1, 0, md5(aid::text) FROM generate_series($rows + 1, $rows + $half) aid"
dump2_bytes=$("$pgbin/pg_dump" -Fc -Z0 | wc -c)
read -r changed_s changed_archive < <(backup "$repo_job")
added=$(curl -K "$work/curlrc" -sf "$api/archive/$changed_archive" | jq -r .added)
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$daemon_pid/status")

mibs() { echo "scale=1; $dump_bytes / 1048576 / $1" | bc -l; }
ratio() { echo "scale=3; $1 / $2" | bc -l; }
printf '\n%-52s %8s %8s %8s\n' "" "seconds" "MiB/s" "ratio"
printf '%-52s %8.2f %8s %8s\n' "pg_dump -Fc -Z0 > /dev/null" "$raw_s" "$(mibs "$raw_s")" "1.000"
printf '%-52s %8.2f %8s %8s\n' "bulwark backup into an fs store (goal <= 1.05)" "$fs_s" "$(mibs "$fs_s")" "$(ratio "$fs_s" "$raw_s")"
printf '%-52s %8.2f %8s %8s\n' "bulwark first backup into a repository (goal <= 1.25)" "$repo_s" "$(mibs "$repo_s")" "$(ratio "$repo_s" "$raw_s")"
printf '%-52s %8.2f\n' "bulwark backup after the 1% change (repository)" "$changed_s"
echo
echo "dump: $((dump_bytes / 1048576)) MiB, after the change $((dump2_bytes / 1048576)) MiB"
echo "repository: the first backup added $((repo_first_added / 1048576)) MiB (compressed)"
echo "after the 1% change the backup added $added bytes = $(echo "scale=2; 100 * $added / $dump_bytes" | bc -l)% of the dump (goal < 3%)"
echo "daemon peak RSS: $((peak_kib / 1024)) MiB; runs: $runs (median)"
