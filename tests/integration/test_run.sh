#!/bin/sh
# test_run.sh BUILD_DIR SOURCE_DIR - what `make run` runs (scripts/run.sh),
# given the build directory as make gives it, relative to the source: the
# daemon starts with the demo registered, a snapshot comes out over the
# unix socket the instructions name, the slow-orders rule is in force, and
# SIGTERM stops both. Exit 77: skipped (port 6060, which make run uses,
# is taken).
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
if curl -s -o /dev/null --max-time 1 http://127.0.0.1:6060/; then
    echo "port 6060 is taken"
    exit 77
fi
rm -rf "$build/run"
cd "$src"
rel=$(realpath --relative-to="$src" "$build")
scripts/run.sh "$rel" > "$tmp/log" 2>&1 &
pid=$!
i=0
until grep -q 'Ctrl-C stops both' "$tmp/log"; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
        cat "$tmp/log"
        echo "make run did not start"
        exit 1
    fi
    sleep 0.05
done
sock=$build/run/http.sock
grep -q -- "--socket $sock snapshot" "$tmp/log"
# until the demo has registered and recorded something
i=0
until "$build/bin/flightrec" --socket "$sock" status | grep -q flightrec-demo; do
    i=$((i + 1))
    [ $i -le 100 ] || { cat "$tmp/log"; echo "the demo never registered"; exit 1; }
    sleep 0.05
done
"$build/bin/flightrec" --socket "$sock" snapshot -o "$tmp/s.pftrace"
test -s "$tmp/s.pftrace"
"$build/bin/flightrec" --socket "$sock" snapshots > /dev/null
curl -s --fail http://127.0.0.1:6060/metrics | grep -q 'flightrec_triggers_total{rule="slow-orders"}'
kill -TERM "$pid"
wait "$pid"
pid=
grep -q 'make run: stopped' "$tmp/log"
echo "make run: ok"
