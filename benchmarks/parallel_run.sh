#!/usr/bin/env bash
# One chapter profile on several processes that share a checkpoint directory: WORKERS `--worker` processes and
# the run that writes the results file, all with one torch thread, on DEVICE. Used for the GPU runs (a 16-core
# machine with one GPU: the small models of chapter 4 leave the GPU mostly idle, so the units run side by side).
# Measured on an H200 (session 13, no MPS daemon, so the processes time-slice the GPU): one process trains a
# MultiMNIST loss weighting at about 4 ms per step, fifteen processes each at 19-42 ms, about twice one process's
# throughput in all; the gradient aggregators, which wait on the CPU for their weights, take 11-29 ms per step alone.
# Every SNAPSHOT_S seconds (and at the end) the checkpoint directory is packed into SNAPSHOT (if set), so that an
# interrupted run can resume from it: `tar xzf SNAPSHOT -C DIR` and run again with the same --checkpoint-dir.
#
#   benchmarks/parallel_run.sh MODULE PROFILE DEVICE WORKERS OUT CHECKPOINT_DIR [LOG_DIR]
#   e.g. benchmarks/parallel_run.sh nash_mtl full cuda 14 /tmp/nash_mtl-full.json /tmp/ck /tmp/logs
set -uo pipefail
if [ $# -lt 6 ]; then
  echo "usage: $0 MODULE PROFILE DEVICE WORKERS OUT CHECKPOINT_DIR [LOG_DIR]" >&2
  exit 2
fi
module=$1 profile=$2 device=$3 workers=$4 out=$5 ckpt=$6 logs=${7:-$ckpt.logs}
mkdir -p "$ckpt" "$logs"
export MTLNOTES_PROGRESS=${MTLNOTES_PROGRESS:-0} PYTHONUNBUFFERED=1
run() { python3 -m "mtlnotes.experiments.$module" --profile "$profile" --device "$device" --threads 1 \
          --checkpoint-dir "$ckpt" "$@"; }
snapshot() {
  [ -n "${SNAPSHOT:-}" ] || return 0
  tar czf "$SNAPSHOT.part" -C "$(dirname "$ckpt")" "$(basename "$ckpt")" && mv "$SNAPSHOT.part" "$SNAPSHOT"
}
pids=()
for i in $(seq 1 "$workers"); do
  run --worker > "$logs/worker$i.log" 2>&1 &
  pids+=($!)
  sleep 1   # stagger the starts: each process claims the next free unit
done
(while sleep "${SNAPSHOT_S:-30}"; do snapshot; done) &
snapper=$!
run --out "$out" > "$logs/main.log" 2>&1
rc=$?
kill "$snapper" "${pids[@]}" 2>/dev/null
wait 2>/dev/null
snapshot
echo "main run exited $rc"
exit $rc
