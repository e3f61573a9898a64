#!/usr/bin/env bash
# bench/repository.sh: Bulwark's repository store against restic (and rustic, when installed)
# on the shared 1 GiB data set (seed 42), in one run on one machine: first backup, unchanged
# re-backup, re-backup after `mutate-dataset.sh DIR 1 1`, full restore, repository size, and
# peak memory. Prints each figure and the ratio Bulwark/restic (and Bulwark/rustic).
#
#   bench/repository.sh                 # data set in $BENCH_DIR (default /var/tmp/bulwark-bench)
#   RUNS=2 bench/repository.sh          # medians of 2 full sequences (the restores' order
#                                       # alternates; see below)
#
# Bulwark is measured as a user runs it: a daemon (started here with its defaults, as
# bench/lib.sh does) with a repository store, an fs target and a job; each figure is a task asked
# for over the API (run the job; restore the archive into another fs target) and timed from the
# request to the task's end. Its memory is the peak of the daemon's whole process tree (daemon
# and plugins, summed, sampled every 50 ms by bench/treepeak.py); restic's is its own peak.
#
# Needs: restic (apt), python3, jq, curl, /usr/bin/time, a release build (made if missing);
# rustic (`cargo install rustic-rs`) is optional.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench_dir=${BENCH_DIR:-/var/tmp/bulwark-bench}
data=$bench_dir/data
runs=${RUNS:-1}
target_dir=${CARGO_TARGET_DIR:-$here/target}
bin=$target_dir/release/bulwark
shared=${SHARED_BENCH:-$here/../shared/bench}

command -v restic >/dev/null || { echo "restic is needed: apt-get install restic" >&2; exit 1; }
if [ ! -d "$data" ]; then
  echo "making the 1 GiB data set (seed 42) in $data ..." >&2
  "$shared/make-dataset.sh" "$data" 1GiB 42 >&2
fi
(cd "$here" && CARGO_TARGET_DIR=$target_dir cargo build --release --locked -p bulwark >&2)
rustic_bin=$(command -v rustic || true)

work=$(mktemp -d "$bench_dir/repo-run.XXXXXX")
daemon_pid=""
trap '[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$here/bench/lib.sh"
start_daemon "$bin" "$work"

# task NAME PATH JSON: a timed task (bench/lib.sh); appends "NAME seconds peak_kib".
task() {
  timed_task "$@"
  echo "$1 $task_seconds $task_peak_kib" >> "$work/figures"
}
export RESTIC_PASSWORD=bench-password RUSTIC_PASSWORD=bench-password
export BULWARK_REPOSITORY_PASSWORD=bench-password
export RESTIC_CACHE_DIR=$work/restic-cache

# run NAME CMD...: runs CMD, appends "NAME seconds max_rss_kib" to $work/figures.
run() {
  local name=$1; shift
  sync
  /usr/bin/time -f "%e %M" -o "$work/time.out" "$@" > "$work/cmd.out" 2> "$work/cmd.err" || {
    echo "$name failed:" >&2; cat "$work/cmd.err" >&2; exit 1; }
  echo "$name $(cat "$work/time.out")" >> "$work/figures"
}
size_of() { du -sb "$1" | cut -f1; }

echo "data set: $data, $(( $(size_of "$data") / 1048576 )) MiB in $(find "$data" -type f | wc -l) files" >&2
: > "$work/figures"
for r in $(seq "$runs"); do
  echo "run $r/$runs ..." >&2
  rm -rf "$work/src"; cp -a "$data" "$work/src"
  # Warm the page cache.
  tar -cf - -C "$work/src" . > /dev/null

  # --- restic ---
  rm -rf "$work/restic" "$work/restic-cache" "$work/out"
  restic init -r "$work/restic" > /dev/null
  run restic_first restic -r "$work/restic" backup "$work/src"
  run restic_same restic -r "$work/restic" backup "$work/src"
  echo "restic_size_before $(size_of "$work/restic")" >> "$work/figures"

  # --- bulwark, through the daemon ---
  rm -rf "$work/bulwark" "$work/out"; mkdir -p "$work/out"
  store=$(post /stores "{\"name\":\"repo $r\",\"plugin\":\"repository\",\"endpoint\":{\"path\":\"$work/bulwark\"}}" | jq -r .uuid)
  target=$(post /targets "{\"name\":\"src $r\",\"plugin\":\"fs\",\"agent\":\"local\",\"endpoint\":{\"base_dir\":\"$work/src\"}}" | jq -r .uuid)
  out_target=$(post /targets "{\"name\":\"out $r\",\"plugin\":\"fs\",\"agent\":\"local\",\"endpoint\":{\"base_dir\":\"$work/out\"}}" | jq -r .uuid)
  schedule=$(post /schedules "{\"name\":\"s $r\",\"when\":\"daily at 4am\"}" | jq -r .uuid)
  policy=$(post /retention "{\"name\":\"r $r\",\"expires\":31536000}" | jq -r .uuid)
  job=$(post /jobs "{\"name\":\"j $r\",\"target\":\"$target\",\"store\":\"$store\",\"schedule\":\"$schedule\",\"retention\":\"$policy\",\"paused\":true}" | jq -r .uuid)
  task bulwark_first "/job/$job/run" '{}'
  task bulwark_same "/job/$job/run" '{}'
  echo "bulwark_size_before $(size_of "$work/bulwark")" >> "$work/figures"

  # --- rustic ---
  if [ -n "$rustic_bin" ]; then
    rm -rf "$work/rustic"
    rustic -r "$work/rustic" --no-cache init > /dev/null 2>&1
    run rustic_first rustic -r "$work/rustic" --no-cache backup "$work/src"
    run rustic_same rustic -r "$work/rustic" --no-cache backup "$work/src"
    echo "rustic_size_before $(size_of "$work/rustic")" >> "$work/figures"
  fi

  # The 1% "next day", then a backup of it by each.
  "$shared/mutate-dataset.sh" "$work/src" 1 1 > /dev/null
  tar -cf - -C "$work/src" . > /dev/null
  run restic_changed restic -r "$work/restic" backup "$work/src"
  echo "restic_size $(size_of "$work/restic")" >> "$work/figures"
  task bulwark_changed "/job/$job/run" '{}'
  last=$(curl -sf -K "$work/curlrc" "$api/task/$last_task" | jq -r .archive_uuid)
  echo "bulwark_size $(size_of "$work/bulwark")" >> "$work/figures"
  if [ -n "$rustic_bin" ]; then
    run rustic_changed rustic -r "$work/rustic" --no-cache backup "$work/src"
    echo "rustic_size $(size_of "$work/rustic")" >> "$work/figures"
  fi

  # Full restores of the latest snapshot, checked against the source. Each tool restores into
  # a directory of its own, and the restored trees are only removed after all of them: ext4
  # scans the inode tables for recently deleted inodes when it makes files, so a restore right
  # after 32,000 files were deleted takes a second or two longer.
  # Whichever restores second makes its 32,000 files after the other's and takes longer (by a
  # second or more here), so the order alternates from run to run: use RUNS=2 or more.
  if (( r % 2 == 1 )); then
    run restic_restore restic -r "$work/restic" restore latest --target "$work/out-restic"
    task bulwark_restore "/archive/$last/restore" "{\"target\":\"$out_target\"}"
  else
    task bulwark_restore "/archive/$last/restore" "{\"target\":\"$out_target\"}"
    run restic_restore restic -r "$work/restic" restore latest --target "$work/out-restic"
  fi
  python3 "$shared/dataset.py" compare "$work/src" "$work/out" > /dev/null \
    || { echo "bulwark's restore differs from the source!" >&2; exit 1; }
  if [ -n "$rustic_bin" ]; then
    run rustic_restore rustic -r "$work/rustic" --no-cache restore latest "$work/out-rustic"
  fi
  rm -rf "$work/out" "$work/out-restic" "$work/out-rustic"
done

python3 - "$work/figures" "$([ -n "$rustic_bin" ] && echo 1 || echo 0)" <<'EOF'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    name, *vals = line.split()
    rows.setdefault(name, []).append([float(v) for v in vals])
have_rustic = sys.argv[2] == "1"
def med(name, i=0):
    v = rows.get(name)
    return statistics.median(x[i] for x in v) if v else None
tools = ["bulwark", "restic"] + (["rustic"] if have_rustic else [])
def fmt(x, unit):
    if x is None: return "-"
    return f"{x:.2f} s" if unit == "s" else (f"{x/1048576:.0f} MiB" if unit == "b" else f"{x/1024:.0f} MiB")
def ratio(a, b):
    return f"{a/b:.2f}" if a is not None and b else "-"
print()
head = f"{'figure':34} " + " ".join(f"{t:>10}" for t in tools) + f" {'b/restic':>9}" + (f" {'b/rustic':>9}" if have_rustic else "")
print(head); print("-" * len(head))
for label, key, idx, unit in [
    ("first backup", "first", 0, "s"),
    ("unchanged re-backup", "same", 0, "s"),
    ("re-backup after a 1% change", "changed", 0, "s"),
    ("full restore", "restore", 0, "s"),
    ("repository size (before the change)", "size_before", 0, "b"),
    ("repository size (after the change)", "size", 0, "b"),
    ("growth from the 1% change", None, 0, "b"),
    ("peak memory, first backup", "first", 1, "k"),
    ("peak memory, restore", "restore", 1, "k"),
]:
    if key is None:
        vals = [ (med(f"{t}_size") - med(f"{t}_size_before")) if med(f"{t}_size") is not None else None for t in tools]
    else:
        vals = [med(f"{t}_{key}", idx) for t in tools]
    line = f"{label:34} " + " ".join(f"{fmt(v, unit):>10}" for v in vals) + f" {ratio(vals[0], vals[1]):>9}"
    if have_rustic: line += f" {ratio(vals[0], vals[2]):>9}"
    print(line)
EOF
