#!/usr/bin/env bash
# bench/memory.sh: the repository store's memory on a large tree, through the daemon: a backup
# and a full restore of a generated data set (default 4 GiB, seed 42; about 128,000 files),
# each a task asked for over the API, with the peak of the daemon's whole process tree
# (bench/treepeak.py). The data path must stay flat in the size of the data: the goal is under
# 256 MiB at any size.
#
#   bench/memory.sh                # SIZE=4GiB, data set in $BENCH_DIR/data-4GiB
#   SIZE=10GiB bench/memory.sh
#
# Needs python3, jq, curl, bc and a release build (made if missing). Disk: about 2.5 times SIZE.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench_dir=${BENCH_DIR:-/var/tmp/bulwark-bench}
size=${SIZE:-4GiB}
data=$bench_dir/data-$size
target_dir=${CARGO_TARGET_DIR:-$here/target}
bin=$target_dir/release/bulwark
shared=${SHARED_BENCH:-$here/../shared/bench}

if [ ! -d "$data" ]; then
  echo "making the $size data set (seed 42) in $data ..." >&2
  "$shared/make-dataset.sh" "$data" "$size" 42 >&2
fi
(cd "$here" && CARGO_TARGET_DIR=$target_dir cargo build --release --locked -p bulwark >&2)

work=$(mktemp -d "$bench_dir/memory-run.XXXXXX")
daemon_pid=""
trap '[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$here/bench/lib.sh"
start_daemon "$bin" "$work"

# task NAME PATH JSON: a timed task (bench/lib.sh); prints its time and peak.
task() {
  timed_task "$@"
  printf '%-24s %8.2f s %6d MiB\n' "$1" "$task_seconds" "$(( task_peak_kib / 1024 ))"
}

mkdir -p "$work/out"
store=$(post /stores "{\"name\":\"repo\",\"plugin\":\"repository\",\"endpoint\":{\"path\":\"$work/repo\"}}" | jq -r .uuid)
target=$(post /targets "{\"name\":\"src\",\"plugin\":\"fs\",\"agent\":\"local\",\"endpoint\":{\"base_dir\":\"$data\"}}" | jq -r .uuid)
out=$(post /targets "{\"name\":\"out\",\"plugin\":\"fs\",\"agent\":\"local\",\"endpoint\":{\"base_dir\":\"$work/out\"}}" | jq -r .uuid)
schedule=$(post /schedules '{"name":"s","when":"daily at 4am"}' | jq -r .uuid)
policy=$(post /retention '{"name":"r","expires":31536000}' | jq -r .uuid)
job=$(post /jobs "{\"name\":\"j\",\"target\":\"$target\",\"store\":\"$store\",\"schedule\":\"$schedule\",\"retention\":\"$policy\",\"paused\":true}" | jq -r .uuid)
echo "data set: $data, $(( $(du -sb "$data" | cut -f1) / 1048576 )) MiB in $(find "$data" -type f | wc -l) files"
task "backup ($size)" "/job/$job/run" '{}'
archive=$(curl -sf -K "$work/curlrc" "$api/task/$last_task" | jq -r .archive_uuid)
task "restore ($size)" "/archive/$archive/restore" "{\"target\":\"$out\"}"
python3 "$shared/dataset.py" compare "$data" "$work/out" > /dev/null \
  || { echo "the restore differs from the source!" >&2; exit 1; }
echo "the restore is identical to the source"
