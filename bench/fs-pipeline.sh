#!/usr/bin/env bash
# bench/fs-pipeline.sh: a backup through the daemon (built-in fs target -> fs store) of the shared
# 1 GiB data set, against `tar -cf - DIR > FILE` on the same bytes, and a restore against
# `tar -xf FILE`. Prints seconds (median of RUNS), throughput, the ratios, and the daemon's
# peak memory.
#
#   bench/fs-pipeline.sh            # data set in $BENCH_DIR (default /var/tmp/bulwark-bench)
#   RUNS=5 bench/fs-pipeline.sh
#   OUT_DIR=/dev/shm bench/fs-pipeline.sh   # write archives to memory: the pipeline alone, no disk
#
# Needs: curl, jq, python3 (for the data set), a release build (made if missing).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench_dir=${BENCH_DIR:-/var/tmp/bulwark-bench}
data=$bench_dir/data
runs=${RUNS:-3}
target_dir=${CARGO_TARGET_DIR:-$here/target}
bin=$target_dir/release/bulwark
shared=${SHARED_BENCH:-$here/../shared/bench}

if [ ! -d "$data" ]; then
  echo "making the 1 GiB data set (seed 42) in $data ..." >&2
  "$shared/make-dataset.sh" "$data" 1GiB 42 >&2
fi
(cd "$here" && CARGO_TARGET_DIR=$target_dir cargo build --release --locked -p bulwark >&2)

# Where the archives go (tar's file and the fs store): OUT_DIR, default under BENCH_DIR.
out_root=${OUT_DIR:-$bench_dir}
work=$(mktemp -d "$out_root/run.XXXXXX")
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }

bytes=$(du -sb "$data" | cut -f1)
files=$(find "$data" -type f | wc -l)
echo "data set: $data, $((bytes / 1048576)) MiB in $files files"

# Warm the page cache so every contender reads from memory.
tar -cf - -C "$data" . > /dev/null

# Baseline: tar into a file (and the same with an fsync at the end, which the fs store does).
tar_times=(); tar_sync_times=(); untar_times=()
for _ in $(seq "$runs"); do
  rm -f "$work/tar.out"
  t=$(now); tar -cf - -C "$data" . > "$work/tar.out"; tar_times+=("$(elapsed "$t")")
  rm -f "$work/tar.out"
  t=$(now); tar -cf - -C "$data" . > "$work/tar.out"; sync "$work/tar.out"; tar_sync_times+=("$(elapsed "$t")")
  rm -rf "$work/untar"; mkdir "$work/untar"
  t=$(now); tar -xf "$work/tar.out" -C "$work/untar"; untar_times+=("$(elapsed "$t")")
done
rm -rf "$work/tar.out" "$work/untar"
tar_s=$(printf '%s\n' "${tar_times[@]}" | median)
tar_sync_s=$(printf '%s\n' "${tar_sync_times[@]}" | median)
untar_s=$(printf '%s\n' "${untar_times[@]}" | median)

# Bulwark: the daemon with its defaults, one job, run by hand.
. "$here/bench/lib.sh"
start_daemon "$bin" "$work"
post() { curl -K "$work/curlrc" -sf -X POST "$api$1" -d "$2"; }
target=$(post /targets "{\"name\":\"bench\",\"plugin\":\"fs\",\"endpoint\":{\"base_dir\":\"$data\"},\"agent\":\"127.0.0.1:5444\"}" | jq -r .uuid)
store=$(post /stores "{\"name\":\"bench\",\"plugin\":\"fs\",\"endpoint\":{\"base_dir\":\"$work/store\"}}" | jq -r .uuid)
sched=$(post /schedules '{"name":"never soon","when":"daily at 4am"}' | jq -r .uuid)
ret=$(post /retention '{"name":"a day","expires":86400}' | jq -r .uuid)
job=$(post /jobs "{\"name\":\"bench\",\"target\":\"$target\",\"store\":\"$store\",\"schedule\":\"$sched\",\"retention\":\"$ret\",\"paused\":true}" | jq -r .uuid)
restore_target=$(post /targets "{\"name\":\"restore\",\"plugin\":\"fs\",\"endpoint\":{\"base_dir\":\"$work/restored\"},\"agent\":\"127.0.0.1:5444\"}" | jq -r .uuid)

# Follows the task's log until it ends (one request, no polling that would steal CPU from the
# pipeline), then checks how it ended.
wait_task() {
  curl -K "$work/curlrc" -sfN "$api/task/$1/log?follow=t" > /dev/null
  local status
  status=$(curl -K "$work/curlrc" -sf "$api/task/$1" | jq -r .status)
  [ "$status" = done ] || { curl -K "$work/curlrc" -sf "$api/task/$1" | jq -r .log >&2; return 1; }
}

# "Done: ... in 1.234s (...)": the pipeline's own time, as the task log reports it.
took() { curl -K "$work/curlrc" -sf "$api/task/$1" | jq -r .log | sed -n 's/^Done: .* in \([0-9.]*\)s .*/\1/p'; }

backup_times=(); restore_times=(); backup_pipe=(); restore_pipe=(); archive=""
for _ in $(seq "$runs"); do
  t=$(now)
  task=$(post "/job/$job/run" '{}' | jq -r .task_uuid)
  wait_task "$task"
  backup_times+=("$(elapsed "$t")")
  backup_pipe+=("$(took "$task")")
  archive=$(curl -K "$work/curlrc" -sf "$api/task/$task" | jq -r .archive_uuid)
  rm -rf "$work/restored"
  t=$(now)
  task=$(post "/archive/$archive/restore" "{\"target\":\"$restore_target\"}" | jq -r .task_uuid)
  wait_task "$task"
  restore_times+=("$(elapsed "$t")")
  restore_pipe+=("$(took "$task")")
done
python3 "$shared/dataset.py" compare "$data" "$work/restored" > /dev/null \
  || { echo "the restored tree differs from the data set" >&2; exit 1; }
size=$(curl -K "$work/curlrc" -sf "$api/archive/$archive" | jq -r .size)
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$daemon_pid/status")

backup_s=$(printf '%s\n' "${backup_times[@]}" | median)
restore_s=$(printf '%s\n' "${restore_times[@]}" | median)
backup_p=$(printf '%s\n' "${backup_pipe[@]}" | median)
restore_p=$(printf '%s\n' "${restore_pipe[@]}" | median)
mib() { echo "scale=1; $bytes / 1048576 / $1" | bc -l; }
ratio() { echo "scale=3; $1 / $2" | bc -l; }

printf '\n%-44s %8s %10s %8s\n' "" "seconds" "MiB/s" "ratio"
printf '%-44s %8.2f %10s %8s\n' "tar -cf - DIR > FILE" "$tar_s" "$(mib "$tar_s")" "1.000"
printf '%-44s %8.2f %10s %8s\n' "tar -cf - DIR > FILE; sync FILE" "$tar_sync_s" "$(mib "$tar_sync_s")" "$(ratio "$tar_sync_s" "$tar_s")"
printf '%-44s %8.2f %10s %8s\n' "bulwark backup, request to done" "$backup_s" "$(mib "$backup_s")" "$(ratio "$backup_s" "$tar_s")"
printf '%-44s %8.2f %10s %8s\n' "bulwark backup, the pipeline (task log)" "$backup_p" "$(mib "$backup_p")" "$(ratio "$backup_p" "$tar_s")"
printf '%-44s %8s %10s %8s\n' "  pipeline vs tar with the same fsync" "" "" "$(ratio "$backup_p" "$tar_sync_s")"
printf '%-44s %8.2f %10s %8s\n' "tar -xf FILE" "$untar_s" "$(mib "$untar_s")" "1.000"
printf '%-44s %8.2f %10s %8s\n' "bulwark restore, request to done" "$restore_s" "$(mib "$restore_s")" "$(ratio "$restore_s" "$untar_s")"
printf '%-44s %8.2f %10s %8s\n' "bulwark restore, the pipeline (task log)" "$restore_p" "$(mib "$restore_p")" "$(ratio "$restore_p" "$untar_s")"
echo
echo "archive size: $((size / 1048576)) MiB; daemon peak RSS: $((peak_kib / 1024)) MiB; runs: $runs (median)"
