#!/usr/bin/env bash
# What `hue top` costs while it follows a busy program (issue 14): the viewer's own CPU, and
# the program's throughput with a viewer attached against telemetry on with no viewer.
#
#   cargo build --release --bin hue && cargo build --release -p hue-examples --example busy_colors
#   tui/benches/live-cost.sh [ROUNDS]          # ROUNDS defaults to 5
#
# The program is `examples/examples/busy_colors.rs` on 2 workers: 64 chains of short
# callbacks (a few hundred ns each) passing from color to color, telemetry on in both cases;
# its throughput is the callbacks/s it prints. The viewer's CPU is its utime + stime from
# /proc over the program's run, as a share of one core. Rounds alternate which side goes
# first; medians over the rounds. Needs tmux. Prints the load average before and after:
# numbers taken on a loaded machine say so.
set -euo pipefail
cd "$(dirname "$0")/../.."
HUE=${HUE:-target/release/hue}
PROG=${PROG:-target/release/examples/busy_colors}
ROUNDS=${1:-5}
SECS=${SECS:-4}
ADDR=127.0.0.1:7899
TCK=$(getconf CLK_TCK)
session="hue-top-cost-$$"

for bin in "$HUE" "$PROG"; do
    [ -x "$bin" ] || { echo "missing $bin: build it first (see the top of this script)" >&2; exit 2; }
done

program() { # prints the program's callbacks/s
    "$PROG" --telemetry "$ADDR" --seconds "$SECS" | awk '$1 == "callbacks/s" { print $2; exit }'
}

viewed() { # prints the program's callbacks/s and the viewer's CPU, % of a core
    # The viewer starts first and connects as soon as the program listens (it retries).
    tmux new-session -d -s "$session" -x 160 -y 48 "$HUE top $ADDR"
    sleep 0.3
    local pid
    pid=$(tmux display-message -p -t "$session" '#{pane_pid}')
    local t0 c0 rate t1 c1
    t0=$(date +%s.%N)
    c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rate=$(program)
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    t1=$(date +%s.%N)
    tmux kill-session -t "$session"
    printf '%s %.2f\n' "$rate" "$(echo "($c1 - $c0) / $TCK / ($t1 - $t0) * 100" | bc -l)"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "round  without viewer cb/s  with viewer cb/s  ratio  viewer CPU % of a core"
plain_rates=() viewed_rates=() ratios=() cpus=()
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then
        a=$(program); read -r b cpu <<<"$(viewed)"
    else
        read -r b cpu <<<"$(viewed)"; a=$(program)
    fi
    ratio=$(echo "$b / $a" | bc -l)
    plain_rates+=("$a") viewed_rates+=("$b") ratios+=("$ratio") cpus+=("$cpu")
    printf '%5d  %19s  %16s  %5.3f  %6.2f\n' "$r" "$a" "$b" "$ratio" "$cpu"
done
printf 'median %19s  %16s  %5.3f  %6.2f\n' \
    "$(printf '%s\n' "${plain_rates[@]}" | median)" \
    "$(printf '%s\n' "${viewed_rates[@]}" | median)" \
    "$(printf '%s\n' "${ratios[@]}" | median)" \
    "$(printf '%s\n' "${cpus[@]}" | median)"
echo "(ratio: with viewer ÷ without, per round; its median is the median of the rounds' ratios)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
