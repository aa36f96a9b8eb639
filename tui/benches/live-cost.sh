#!/usr/bin/env bash
# What `hue top` costs while it follows a busy program (issue 14): the viewer's own CPU, and
# the program's throughput with a viewer attached against telemetry on with no viewer.
#
#   cargo build --release --bin hue && tui/benches/live-cost.sh [ROUNDS]
#
# The program is `hue demo --workload webserver --workers 1` (1 worker: the load generator
# needs the second core); its throughput is the req/s of its "uncolored 1" row.
# Rounds alternate which side goes first. Needs tmux.
set -euo pipefail
cd "$(dirname "$0")/../.."
HUE=${HUE:-target/release/hue}
ROUNDS=${1:-3}
SECS=${SECS:-4}
ADDR=127.0.0.1:7899
TCK=$(getconf CLK_TCK)
session="hue-top-cost-$$"

demo() { # prints the req/s of the uncolored run
    "$HUE" demo --workload webserver --workers 1 --seconds "$SECS" --rounds 1 --no-trace \
        --telemetry "$ADDR" | awk '$1 == "uncolored" && $2 == "1" { print $3; exit }'
}

plain() { demo; }

viewed() {
    tmux new-session -d -s "$session" -x 160 -y 48 "$HUE top $ADDR"
    sleep 0.5
    local pid
    pid=$(tmux display-message -p -t "$session" '#{pane_pid}')
    local t0 c0 rate t1 c1
    t0=$(date +%s.%N)
    c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rate=$(demo)
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    t1=$(date +%s.%N)
    tmux kill-session -t "$session"
    local cpu
    cpu=$(echo "($c1 - $c0) / $TCK / ($t1 - $t0) * 100" | bc -l)
    printf '%s %.2f\n' "$rate" "$cpu"
}

echo "round  without viewer req/s  with viewer req/s  ratio  viewer CPU % of a core"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then
        a=$(plain); read -r b cpu <<<"$(viewed)"
    else
        read -r b cpu <<<"$(viewed)"; a=$(plain)
    fi
    printf '%5d  %20s  %16s  %5.3f  %6.2f\n' "$r" "$a" "$b" "$(echo "$b / $a" | bc -l)" "$cpu"
done
