#!/usr/bin/env bash
# Does following hue's advice pay off with a real client (issue 13, item 3)?
#
#   cargo build --release --bin hue && examples/benches/advice.sh [ROUNDS]
#
# 1. Traces the demo web server as written (`--coloring serial`: every stage in the default
#    color) on WORKERS workers under `wrk -t1 -cCONNS` for SECS seconds.
# 2. Asks `hue suggest` for the advised policy for that trace at WORKERS cores (`--write-policy`)
#    and keeps what it said. Where it found nothing to gain on the traced machine, the advised
#    policy keeps the serial coloring and carries the suggestions as comments: the script then
#    also tries "every suggestion", those rules uncommented, as a user who ignored it would.
# 3. Runs the server serial and under each policy, rotating which goes first, ROUNDS times
#    (default 5), each under the same wrk load with no trace, and prints the requests/s of every
#    run, the medians, their ratios to serial and the range of the per-round ratios.
#
# The client cycles through the server's small cached files (`/files/0.html` .. `/files/15.html`,
# 512 B to 8 KiB). wrk runs on the same machine, so it takes CPU from the server: both sides
# pay the same. Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
HUE=${HUE:-target/release/hue}
ROUNDS=${1:-5}
SECS=${SECS:-4}
CONNS=${CONNS:-16}
WORKERS=${WORKERS:-$(nproc)}
PORT=${PORT:-8391}
ADDR=127.0.0.1:$PORT
dir=$(mktemp -d)
trap 'rm -rf "$dir"; kill $(jobs -p) 2>/dev/null || true' EXIT

command -v wrk >/dev/null || { echo "advice.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$HUE" ] || { echo "advice.sh: $HUE not built (cargo build --release --bin hue)" >&2; exit 1; }

cat >"$dir/files.lua" <<'EOF'
local i = 0
request = function()
  i = (i + 1) % 16
  return wrk.format("GET", "/files/" .. i .. ".html")
end
EOF

wait_listening() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "advice.sh: the server did not listen on $ADDR" >&2
    exit 1
}

# serve ARGS...: starts `hue serve` with ARGS, loads it with wrk, stops it; prints requests/s.
serve() {
    "$HUE" serve --addr "$ADDR" --workers "$WORKERS" --coloring serial "$@" >"$dir/serve.log" 2>&1 &
    local pid=$!
    wait_listening
    local rate
    rate=$(wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$dir/files.lua" "http://$ADDR/" |
        awk '/^Requests\/sec:/ { print $2 }')
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    echo "${rate:?wrk printed no rate}"
}

echo "tracing the serial server: $WORKERS workers, wrk -t1 -c$CONNS, ${SECS} s"
serve --trace "$dir/serial.hue" >/dev/null
"$HUE" suggest "$dir/serial.hue" --cores "$WORKERS" --write-policy "$dir/policy.toml" >"$dir/suggest.txt"
echo "--- hue suggest said (at $WORKERS cores) ---"
cat "$dir/suggest.txt"
echo "--- the policy it wrote ---"
cat "$dir/policy.toml"
echo "---"
names=(serial advised)
args=("" "--policy $dir/policy.toml")
if grep -q '^# Left out' "$dir/policy.toml"; then
    # The rules it left out, uncommented: what following every suggestion anyway would run.
    sed -E 's/^# ([^ #]+ = .+)$/\1/' "$dir/policy.toml" >"$dir/all.toml"
    names+=("every suggestion")
    args+=("--policy $dir/all.toml")
fi
n=${#names[@]}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
lo() { printf '%s\n' "$@" | sort -g | head -1; }
hi() { printf '%s\n' "$@" | sort -g | tail -1; }

printf '%5s' round
for name in "${names[@]}"; do printf '  %18s' "$name req/s"; done
for name in "${names[@]:1}"; do printf '  %18s' "$name / serial"; done
echo
declare -A rates
for r in $(seq 1 "$ROUNDS"); do
    # Rotate which arm goes first, so that drift over time falls on each alike.
    for k in $(seq 0 $((n - 1))); do
        i=$(((k + r - 1) % n))
        # shellcheck disable=SC2086 # the arguments are words
        rates[$r,$i]=$(serve ${args[$i]})
    done
    printf '%5d' "$r"
    for i in $(seq 0 $((n - 1))); do printf '  %18.0f' "${rates[$r,$i]}"; done
    for i in $(seq 1 $((n - 1))); do printf '  %18.3f' "$(echo "${rates[$r,$i]} / ${rates[$r,0]}" | bc -l)"; done
    echo
done
serials=()
for r in $(seq 1 "$ROUNDS"); do serials+=("${rates[$r,0]}"); done
ms=$(median "${serials[@]}")
printf 'median: serial %.0f req/s\n' "$ms"
for i in $(seq 1 $((n - 1))); do
    vs=(); ratios=()
    for r in $(seq 1 "$ROUNDS"); do
        vs+=("${rates[$r,$i]}")
        ratios+=("$(echo "${rates[$r,$i]} / ${rates[$r,0]}" | bc -l)")
    done
    mp=$(median "${vs[@]}")
    printf 'median: %s %.0f req/s: %s / serial %.3f (per-round ratios %.3f .. %.3f, median %.3f)\n' \
        "${names[$i]}" "$mp" "${names[$i]}" "$(echo "$mp / $ms" | bc -l)" \
        "$(lo "${ratios[@]}")" "$(hi "${ratios[@]}")" "$(median "${ratios[@]}")"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
