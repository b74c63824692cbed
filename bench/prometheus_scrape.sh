#!/bin/sh
# prometheus_scrape.sh - a real Prometheus server scrapes a running
# `forkcache writer --metrics-port`, and the hit ratio it computes matches
# the one the load generator counted itself.
#
#   bench/prometheus_scrape.sh      (from the build tree; make check-prometheus)
#
# The load generator: 4 shells at once, each running `forkcache get` on
# keys of which a known share exist, counting hits (exit 0) and misses
# (exit 1) themselves. Prometheus (Debian's `prometheus` package) runs on
# loopback with a 1 s scrape interval and a scratch TSDB; once it has
# scraped the final counts, the script asks its query API for
# forkcache_get_hits_total / forkcache_gets_total and compares. Prints both
# ratios; exits 0 when they are equal, 1 when not, 77 when prometheus or
# curl is missing.
set -u
# cli_common.sh gives $FC (from $top_builddir), $tmp, $S, fail, wait_for and
# a cleanup that never lets the writer ($wpid) outlive the script.
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
cli_name=fc-prom
[ -x "$top_builddir/src/tool/forkcache" ] || { echo "run from the build tree" >&2; exit 2; }
command -v prometheus >/dev/null 2>&1 || { echo "SKIP: prometheus not installed"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }
. "$top_srcdir/tests/cli_common.sh"
prom_pid=
stop_all() {
    [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
    cleanup
}
trap stop_all EXIT

"$FC" writer --metrics-port 0 "$S" >"$tmp/writer.out" 2>&1 &
wpid=$!
wait_for grep -q "metrics on http://" "$tmp/writer.out" || fail "the writer did not start"
target=$(sed -n 's|.*metrics on http://\([0-9.:]*\)/metrics$|\1|p' "$tmp/writer.out")
for i in $(seq 0 29); do
    printf "k%d\tv%d\n" "$i" "$i"
done | "$FC" load "$S" 2>"$tmp/load.err" || fail "load: $(cat "$tmp/load.err")"

# The load: keys k0..k49, of which k0..k29 exist, 4 shells x 100 gets.
for w in 1 2 3 4; do
    (
        h=0 m=0 n=0
        while [ "$n" -lt 100 ]; do
            k="k$(( (n * 7 + w * 13) % 50 ))"
            if "$FC" get "$S" "$k" >/dev/null 2>&1; then h=$((h + 1)); else m=$((m + 1)); fi
            n=$((n + 1))
        done
        echo "$h $m" >"$tmp/gen.$w"
    ) &
done
wait_jobs() { for f in 1 2 3 4; do [ -f "$tmp/gen.$f" ] || return 1; done; }
wait_tenths=600 wait_for wait_jobs || fail "the load generator did not finish"
hits=$(cat "$tmp"/gen.* | awk '{h += $1} END {print h}')
gets=$(cat "$tmp"/gen.* | awk '{n += $1 + $2} END {print n}')

# Prometheus on a free loopback port, scraping the writer every second.
cat >"$tmp/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: forkcache
    static_configs:
      - targets: ['$target']
EOC
port=$(( 20000 + $$ % 20000 ))
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$port" >"$tmp/prom.log" 2>&1 &
prom_pid=$!
api="http://127.0.0.1:$port/api/v1/query"
scraped() {
    curl -sf --data-urlencode 'query=forkcache_gets_total' "$api" 2>/dev/null \
        | grep -q "\"value\":\[[0-9.]*,\"$gets\"\]"
}
wait_tenths=300 wait_for scraped || fail "Prometheus never scraped forkcache_gets_total = $gets"
q='forkcache_get_hits_total / forkcache_gets_total'
seen=$(curl -sf --data-urlencode "query=$q" "$api" | sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p')
want=$(awk -v h="$hits" -v n="$gets" 'BEGIN {printf "%.6f", h / n}')
got=$(awk -v x="$seen" 'BEGIN {printf "%.6f", x}')
echo "load generator: $hits hits of $gets gets, hit ratio $want"
echo "prometheus:     $q = $seen ($got)"
[ -n "$seen" ] && [ "$got" = "$want" ] || { tail -5 "$tmp/prom.log"; fail "the ratios differ"; }
echo "prometheus_scrape: the scraped hit ratio matches"
exit 0
