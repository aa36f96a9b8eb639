#!/usr/bin/env bash
# Does following hue's advice pay off with a real client (issue 13, item 3)?
#
#   cargo build --release --bin hue && examples/benches/advice.sh [ROUNDS]
#
# 1. Traces the demo web server as written (`--coloring serial`: every stage in the default
#    color) on WORKERS workers under `wrk -t1 -cCONNS` for SECS seconds.
# 2. Asks `hue suggest` for a policy for that trace at WORKERS cores and keeps what it predicted.
# 3. Runs the server serial and under that policy, alternating which goes first, ROUNDS times
#    (default 5), each under the same wrk load with no trace, and prints the requests/s of every
#    run, the medians, their ratio and the range of the per-round ratios.
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
grep -v '^#' "$dir/policy.toml" | sed '/^$/d'
echo "---"

printf '%5s  %14s  %14s  %6s\n' round "serial req/s" "policy req/s" ratio
serials=()
policies=()
ratios=()
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then
        a=$(serve); b=$(serve --policy "$dir/policy.toml")
    else
        b=$(serve --policy "$dir/policy.toml"); a=$(serve)
    fi
    ratio=$(echo "$b / $a" | bc -l)
    serials+=("$a"); policies+=("$b"); ratios+=("$ratio")
    printf '%5d  %14.0f  %14.0f  %6.3f\n' "$r" "$a" "$b" "$ratio"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
lo() { printf '%s\n' "$@" | sort -g | head -1; }
hi() { printf '%s\n' "$@" | sort -g | tail -1; }
ms=$(median "${serials[@]}")
mp=$(median "${policies[@]}")
printf 'median: serial %.0f req/s, policy %.0f req/s: policy / serial %.3f (per-round ratios %.3f .. %.3f, median %.3f)\n' \
    "$ms" "$mp" "$(echo "$mp / $ms" | bc -l)" "$(lo "${ratios[@]}")" "$(hi "${ratios[@]}")" "$(median "${ratios[@]}")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
