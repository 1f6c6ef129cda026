#!/bin/sh
# run.sh BUILD_DIR - what `make run` does: flightrecd with every path under
# BUILD_DIR/run (no root needed) and flightrec-demo registered with it,
# until Ctrl-C; then both stop cleanly.
set -eu
build=$1
mkdir -p "$build/run"
# The config takes absolute paths only (flightrecd may change directory).
run=$(cd "$build/run" && pwd)
cat > "$run/flightrec.yaml" <<YAML
# written by scripts/run.sh for make run
http:
  listen: 127.0.0.1:6060
  unix_socket: $run/http.sock
control_socket: $run/control.sock
snapshots:
  dir: $run/snapshots
rules:
  # flightrec-demo makes every 50th request slow (about 300 ms)
  - name: slow-orders
    on: task
    match: "GET /orders"
    threshold: 250ms
    after: 1s
    cooldown: 1m
YAML
"$build/bin/flightrecd" --config "$run/flightrec.yaml" &
daemon=$!
demo=
stop() {
    trap - INT TERM
    [ -n "$demo" ] && kill -TERM "$demo" 2>/dev/null && wait "$demo" 2>/dev/null
    kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    echo "make run: stopped"
    exit 0
}
trap stop INT TERM
i=0
until [ -S "$run/http.sock" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$daemon" 2>/dev/null; then
        echo "make run: flightrecd did not start" >&2
        exit 1
    fi
    sleep 0.05
done
FLIGHTREC_SOCKET=$run/control.sock "$build/bin/flightrec-demo" --quiet &
demo=$!
cat <<TXT

flightrecd is recording flightrec-demo (pid $demo). Take a snapshot:

    curl -o slo.pftrace http://127.0.0.1:6060/debug/flightrecorder
    $build/bin/flightrec --socket $run/http.sock snapshot -o slo.pftrace
    $build/bin/flightrec --socket $run/http.sock status

The rule slow-orders writes the seconds around a slow request (over 250 ms)
to $run/snapshots by itself, at most once a minute:

    $build/bin/flightrec --socket $run/http.sock snapshots

and open slo.pftrace in https://ui.perfetto.dev (Open trace file).
Ctrl-C stops both.
TXT
wait "$demo" || true
stop
