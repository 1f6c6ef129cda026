#!/usr/bin/env python3
"""test_rules.py - rules, triggers and the snapshot store with the real
flightrecd and real processes (fr-sloapp, fr-testapp).

Run one test: test_rules.py NAME; all: test_rules.py. CTest runs each as
its own test (tests/integration/CMakeLists.txt).
"""
import glob
import json
import os
import re
import subprocess
import time

import frtest
from frtest import App, Daemon, Trace, INSTANT, SLICE_END

MS = 1000000


def store_config(rules, store="", limits=""):
    return ("snapshots:\n  dir: @DIR@/snapshots\n%s" % store
            + ("limits:\n%s" % limits if limits else "")
            + "rules:\n" + rules)


def with_daemon(fn, rules, store="", limits="", **kw):
    def run(d):
        d.store = os.path.join(d.dir, "snapshots")
        fn(d)
    frtest.with_daemon(run, extra_config=store_config(rules, store, limits), **kw)


class SloApp:
    """fr-sloapp (tests/integration/sloapp.c): waits for go() once the
    daemon holds its region and rules."""

    def __init__(self, d, name="orders", extra=None, env=None):
        e = d.env()
        e.update(env or {})
        self.proc = subprocess.Popen([frtest.bin_path("fr-sloapp"), "--name", name] + (extra or []),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=e)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("ready "), "fr-sloapp said %r" % line
        self.pid = self.proc.pid
        App.running.append(self.proc)
        d.wait_process(self.pid)
        time.sleep(0.3)  # WELCOME reached the library, which applied the rules

    def go(self, timeout=120):
        """Serves the requests; returns the lines printed after them."""
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()
        out = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            out.append(line.strip())
            if line.startswith("done"):
                break
        assert out and out[-1] == "done", out
        return out


def registered(d, app):
    d.wait_process(app.pid)
    return app


def snapshots(d):
    return sorted(glob.glob(os.path.join(d.store, "*.pftrace")) +
                  glob.glob(os.path.join(d.store, "*.trace.json")))


def wait_files(d, n, timeout):
    frtest.wait_for(lambda: len(snapshots(d)) >= n, timeout, "%d snapshot file(s)" % n)
    return snapshots(d)


def sidecar(path):
    base = path[:-len(".pftrace")] if path.endswith(".pftrace") else path[:-len(".trace.json")]
    with open(base + ".meta.json") as f:
        return json.load(f)


def metric(d, name, **labels):
    st, _, body = d.get("/metrics")
    assert st == 200
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in body.decode().splitlines():
        m = re.match(r"^([a-z_]+)(?:\{([^}]*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
        if got == want:
            return float(m.group(3))
    return None


SLOW_ORDERS = """  - name: slow-orders
    on: task
    match: "GET /orders"
    threshold: 500ms
    after: 1s
"""


def test_slow_request_writes_exactly_one_snapshot():
    def run(d):
        app = SloApp(d, extra=["--requests", "200", "--slow-at", "200", "--slow-ms", "700"])
        app.go()
        t_done = time.time()
        files = wait_files(d, 1, 5)
        latency = time.time() - t_done
        assert latency < 1 + 1 + 0.5, latency  # after + 1 s, with the poll's slack
        time.sleep(1.5)
        assert len(snapshots(d)) == 1, snapshots(d)
        path = files[0]
        assert os.stat(path).st_mode & 0o777 == 0o640, oct(os.stat(path).st_mode)
        data = open(path, "rb").read()
        frtest.check_perfetto(data)
        meta = sidecar(path)
        assert meta["rule"] == "slow-orders", meta
        assert meta["threshold_ns"] == 500 * MS, meta
        assert 700 * MS <= meta["measured_ns"] < 900 * MS, meta
        assert meta["pid"] == app.pid and meta["process"] == "orders", meta
        assert meta["format"] == "perfetto", meta
        assert meta["trace_bytes"] == len(data), (meta, len(data))
        # the window reaches back the recording window from the trigger
        assert meta["window"]["from_mono_ns"] < meta["time_mono_ns"] - 9000 * MS, meta

        tr = Trace(data)
        tracks = tr.thread_tracks(app.pid)
        marks = tr.on(tracks, INSTANT, "trigger: slow-orders")
        assert len(marks) == 1, marks
        m = marks[0]["ann"]
        assert m["rule"] == "slow-orders" and m["subject"] == "GET /orders", m
        assert m["threshold_ns"] == 500 * MS and m["measured_ns"] >= 700 * MS, m
        # the slow task's slice is the one marked
        ends = [i for i, e in enumerate(tr.events) if e["type"] == SLICE_END
                and e["ann"].get("flightrec.trigger") == "slow-orders"]
        assert len(ends) == 1, ends
        # written right after the marker, on the thread's sequence (the
        # decoder leaves timestamps as the deltas they are on the wire)
        assert tr.events[ends[0] - 1] is marks[0], tr.events[ends[0] - 1]
        ends = [tr.events[ends[0]]]
        assert tr.tracks[ends[0]["track"]]["kind"] == "track"  # the task's own track
        assert metric(d, "flightrec_triggers_total", rule="slow-orders") == 1
        assert metric(d, "flightrec_rule_snapshots_total", rule="slow-orders",
                      result="written") == 1
    with_daemon(run, SLOW_ORDERS)


def test_sighup_swaps_the_rules_of_running_processes():
    def run(d):
        app = SloApp(d, extra=["--requests", "2", "--slow-at", "1", "--slow-ms", "200",
                               "--then", "pause"])
        # the same rule, a lower threshold: the running process gets it
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace("threshold: 500ms", "threshold: 100ms"))
        d.proc.send_signal(frtest.signal.SIGHUP)
        frtest.wait_for(lambda: "in force" in d.log_text(), 5, "the reload")
        time.sleep(0.3)  # RULES reached the library
        app.go()
        files = wait_files(d, 1, 5)
        assert sidecar(files[0])["threshold_ns"] == 100 * MS
        app.proc.terminate()
    with_daemon(run, SLOW_ORDERS)


def test_request_just_under_the_threshold_fires_nothing():
    def run(d):
        app = SloApp(d, extra=["--requests", "5", "--slow-at", "3", "--slow-ms", "490"])
        app.go()
        time.sleep(2.5)
        assert snapshots(d) == [], snapshots(d)
        assert metric(d, "flightrec_triggers_total", rule="slow-orders") == 0
    with_daemon(run, SLOW_ORDERS)


def test_count_within_fires_only_on_the_count():
    rules = """  - name: three-slow
    on: task
    match: "GET /*"
    threshold: 20ms
    count: 3
    within: 1m
    after: 200ms
"""

    def run(d):
        app = SloApp(d, extra=["--requests", "20", "--slow-at", "5,10", "--slow-ms", "30",
                               "--then", "pause"])
        app.go()
        time.sleep(1.5)
        assert snapshots(d) == [], "two slow requests fired a count-3 rule"
        assert metric(d, "flightrec_triggers_total", rule="three-slow") == 2
        app2 = SloApp(d, name="orders2", extra=["--requests", "3", "--slow-at", "1,2,3",
                                                "--slow-ms", "30"])
        app2.go()
        files = wait_files(d, 1, 5)
        assert sidecar(files[0])["pid"] == app2.pid
        time.sleep(1)
        assert len(snapshots(d)) == 1
    with_daemon(run, rules)


def test_slo_storm_writes_no_more_than_the_caps():
    rules = """  - name: storm
    on: task
    match: "*"
    threshold: 5ms
    after: 100ms
    cooldown: 0s
    max_per_hour: 3
"""

    def run(d):
        app = SloApp(d, extra=["--requests", "400", "--slow-every", "1", "--slow-ms", "6"])
        app.go()
        time.sleep(1.5)
        files = snapshots(d)
        assert len(files) == 3, files
        total = metric(d, "flightrec_triggers_total", rule="storm")
        capped = metric(d, "flightrec_triggers_suppressed_total", rule="storm", reason="rule_cap")
        merged = sum(sidecar(f)["triggers_total"] for f in files)
        assert total == 400, total
        assert capped > 0 and merged + capped == total, (merged, capped, total)
        assert "suppressed (rule_cap)" in d.log_text()
        assert d.log_text().count("suppressed (rule_cap)") <= 2, "logged per trigger"
        print("storm: 400 triggers -> %d files (%d triggers merged into them), %d suppressed"
              % (len(files), merged, capped))
    with_daemon(run, rules)


def test_global_cap_counts_across_rules():
    rules = "".join("""  - name: r%d
    on: task
    match: "*"
    threshold: 5ms
    after: 100ms
    cooldown: 0s
""" % i for i in range(3))

    def run(d):
        app = SloApp(d, extra=["--requests", "300", "--slow-every", "1", "--slow-ms", "6"])
        app.go()
        time.sleep(1.5)
        assert len(snapshots(d)) == 4, snapshots(d)
        capped = sum(metric(d, "flightrec_triggers_suppressed_total", rule="r%d" % i,
                            reason="global_cap") for i in range(3))
        assert capped > 0
    with_daemon(run, rules, limits="  max_snapshots_per_hour: 4\n")


def test_scope_all_includes_the_other_processes():
    rules = SLOW_ORDERS + "    scope: all\n"

    def run(d):
        other = registered(d, App(d, "bystander", threads=2, regions=3))
        app = SloApp(d, extra=["--requests", "3", "--slow-at", "2", "--slow-ms", "600"])
        app.go()
        files = wait_files(d, 1, 5)
        tr = Trace(open(files[0], "rb").read())
        procs = tr.processes()
        assert app.pid in procs and other.pid in procs, procs
        other.stop()
    with_daemon(run, rules)


def test_sigkilled_process_fires_the_exit_rule_with_its_last_seconds():
    rules = """  - name: crash
    on: exit
    process: "victim*"
    after: 200ms
"""

    def run(d):
        calm = App(d, "calm", threads=2, regions=2, then="pause")
        d.wait_process(calm.pid)
        assert calm.stop() == 0  # exits 0 with a goodbye: no rule
        d.wait_process(calm.pid, "exited")
        app = App(d, "victim", threads=2, regions=5, then="pause")
        d.wait_process(app.pid)
        app.proc.kill()
        app.proc.wait(10)
        files = wait_files(d, 1, 5)
        time.sleep(0.5)
        assert len(snapshots(d)) == 1, snapshots(d)
        meta = sidecar(files[0])
        assert meta["rule"] == "crash" and meta["pid"] == app.pid, meta
        assert "died" in meta["triggers"][0]["subject"], meta
        data = open(files[0], "rb").read()
        frtest.check_perfetto(data)
        tr = Trace(data)
        tracks = tr.thread_tracks(app.pid)
        assert len(tr.on(tracks, frtest.SLICE_BEGIN, "work")) == 2 * 5, "its last regions are there"
        assert any(e["name"] == "process died" for e in tr.events)
    with_daemon(run, rules)


MANUAL = """  - name: by-hand
    on: manual
    after: 100ms
    cooldown: 0s
"""


def test_manual_triggers_from_the_app_the_cli_and_http():
    def run(d):
        app = SloApp(d, extra=["--requests", "2", "--trigger", "from the app", "--then", "pause"])
        out = app.go()
        assert "trigger 0" in out, out
        f1 = wait_files(d, 1, 5)
        meta = sidecar(f1[0])
        assert meta["rule"] == "by-hand" and meta["triggers"][0]["subject"] == "from the app"
        tr = Trace(open(f1[0], "rb").read())
        assert tr.on(tr.thread_tracks(app.pid), INSTANT, "trigger: manual"), "marker on thread"

        cli = subprocess.run([frtest.bin_path("flightrec"), "--socket", d.http_sock, "trigger",
                              "--reason", "from the cli", "--pid", str(app.pid)],
                             capture_output=True)
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["verdict"] == "fired", cli.stdout
        wait_files(d, 2, 5)

        st, _, body = d.get("/debug/flightrecorder/trigger?reason=tcp", method="POST")
        assert st == 403, (st, body)  # TCP needs http.allow_trigger
        st, _, body = d.get("/debug/flightrecorder/trigger?reason=over%20http", method="POST",
                            unix=True)
        assert st == 202, (st, body)
        files = wait_files(d, 3, 5)
        reasons = sorted(sidecar(f)["triggers"][0]["subject"] for f in files)
        assert reasons == ["from the app", "from the cli", "over http"], reasons
        # the list endpoint and the CLI see them, and a file can be fetched by name
        st, _, body = d.get("/debug/flightrecorder/snapshots")
        listed = json.loads(body)
        assert st == 200 and len(listed) == 3, listed
        name = os.path.basename(files[0])
        st, _, body = d.get("/debug/flightrecorder/snapshots/" + name)
        assert st == 200 and body == open(files[0], "rb").read()
        for bad in ("..", "..%2fflightrec.yaml", ".hidden", "nope.pftrace"):
            st, _, _ = d.get("/debug/flightrecorder/snapshots/" + bad)
            assert st in (400, 404), (bad, st)
        cli = subprocess.run([frtest.bin_path("flightrec"), "--socket", d.http_sock,
                              "snapshots"], capture_output=True)
        assert cli.returncode == 0 and cli.stdout.count(b"-by_hand-") == 3, cli.stdout
        app.proc.terminate()
    with_daemon(run, MANUAL)


def test_json_store_format_writes_chrome_json():
    def run(d):
        app = registered(d, App(d, "jsonapp", threads=2, regions=3))
        st, _, body = d.get("/debug/flightrecorder/trigger?reason=json&pid=%d" % app.pid,
                            method="POST", unix=True)
        assert st == 202, body
        files = wait_files(d, 1, 5)
        assert files[0].endswith(".trace.json"), files
        doc = json.load(open(files[0]))
        names = {e.get("name") for e in doc["traceEvents"]}
        assert "work" in names and "job-0" in names, names
        assert sidecar(files[0])["format"] == "json"
        app.stop()
    with_daemon(run, MANUAL, store="  format: json\n")


def test_log_rule_fires_on_its_category():
    rules = """  - name: errors
    on: log
    match: "err*"
    after: 100ms
"""

    def run(d):
        app = SloApp(d, extra=["--requests", "3", "--log-error"])
        app.go()
        files = wait_files(d, 1, 5)
        meta = sidecar(files[0])
        assert meta["rule"] == "errors" and meta["on"] == "log", meta
        assert meta["triggers"][0]["subject"] == "error", meta
        assert meta["threshold_ns"] is None and meta["measured_ns"] is None, meta
        tr = Trace(open(files[0], "rb").read())
        marks = tr.on(tr.thread_tracks(app.pid), INSTANT, "trigger: errors")
        assert len(marks) == 1 and marks[0]["ann"]["on"] == "log", marks
        # the log "started" (category app) fired nothing
        assert metric(d, "flightrec_triggers_total", rule="errors") == 1
    with_daemon(run, rules)


def test_manual_trigger_cooldown_answers_429():
    rules = """  - name: by-hand
    on: manual
    after: 100ms
    cooldown: 1h
"""

    def run(d):
        st, _, _ = d.get("/debug/flightrecorder/trigger", method="POST", unix=True)
        assert st == 202
        st, _, body = d.get("/debug/flightrecorder/trigger", method="POST", unix=True)
        assert st == 202 and json.loads(body)["verdict"] == "merged", body  # within `after`
        wait_files(d, 1, 5)
        st, h, body = d.get("/debug/flightrecorder/trigger", method="POST", unix=True)
        assert st == 429 and int(h["retry-after"]) > 3000, (st, h, body)
        assert b"cooldown" in body
    with_daemon(run, rules)


def test_hostile_names_cannot_escape_the_store():
    def run(d):
        evil = "../../x/" + "\n" + "y" * 40
        app = SloApp(d, name=evil, extra=["--requests", "1", "--trigger", "../../../etc/passwd"],
                     env={"FLIGHTREC_NAME": evil})
        app.go()
        files = wait_files(d, 1, 5)
        for f in os.listdir(d.store):
            assert "/" not in f and "\n" not in f and not f.startswith(".."), f
        assert os.path.dirname(files[0]) == d.store
        outside = set(os.listdir(d.dir)) - {"snapshots", "flightrec.yaml", "flightrecd.log",
                                           "control.sock", "http.sock"}
        assert not outside, outside
    with_daemon(run, MANUAL)


def test_store_limits_by_count_and_age_even_across_restarts():
    store = "  max_files: 2\n  max_age: 1h\n"

    def run(d):
        os.makedirs(d.store, exist_ok=True)
        for i in range(4):
            st, _, _ = d.get("/debug/flightrecorder/trigger?reason=n%d" % i, method="POST",
                             unix=True)
            assert st == 202
            wait_files(d, min(i + 1, 2), 5)
            time.sleep(0.3)
        files = snapshots(d)
        assert len(files) == 2, files
        assert sorted(sidecar(f)["triggers"][0]["subject"] for f in files) == ["n2", "n3"]
        assert len(os.listdir(d.store)) == 4  # two traces, two sidecars, nothing else
        d.stop()
        # an old snapshot appears while the daemon is down: the next start removes it
        old = os.path.join(d.store, "20200101T000000.000Z-old-x-1")
        for ext in (".pftrace", ".meta.json"):
            with open(old + ext, "w") as f:
                f.write("{}")
            os.utime(old + ext, (1577836800, 1577836800))
        d.start()
        assert len(snapshots(d)) == 2 and old + ".pftrace" not in snapshots(d), snapshots(d)
    with_daemon(run, MANUAL, store=store)


def test_disk_full_loses_nothing_else():
    if os.geteuid() != 0:
        raise frtest.Skip("needs root to mount a small tmpfs")

    def run(d):
        os.makedirs(d.store, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", d.store])
        if r.returncode != 0:
            raise frtest.Skip("cannot mount a tmpfs here")
        try:
            app = registered(d, App(d, "big", threads=2, regions=2000))
            st, _, _ = d.get("/debug/flightrecorder/trigger?reason=full", method="POST",
                             unix=True)
            assert st == 202
            frtest.wait_for(lambda: "could not write" in d.log_text(), 5, "the failure logged")
            assert os.listdir(d.store) == [], os.listdir(d.store)  # nothing partial
            assert metric(d, "flightrec_store_writes_total", result="failed") == 1
            st, _, body = d.get("/debug/flightrecorder")  # still serving
            assert st == 200 and len(body) > 16384
            # room again: the next trigger works
            subprocess.run(["mount", "-o", "remount,size=64m", d.store], check=True)
            st, _, _ = d.get("/debug/flightrecorder/trigger?reason=room", method="POST",
                             unix=True)
            assert st == 202
            wait_files(d, 1, 5)
            app.stop()
        finally:
            subprocess.run(["umount", "-l", d.store])
    with_daemon(run, MANUAL)


if __name__ == "__main__":
    frtest.main({k: v for k, v in globals().items() if k.startswith("test_")})
