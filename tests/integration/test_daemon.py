#!/usr/bin/env python3
"""test_daemon.py - the real flightrecd with real instrumented processes
(fr-testapp, tests/integration/testapp.c), checked through its HTTP API.

Run one test: test_daemon.py NAME; all: test_daemon.py. CTest runs each
as its own test (tests/integration/CMakeLists.txt).
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import frtest
from frtest import App, Daemon, Trace, SLICE_BEGIN, SLICE_END, INSTANT, COUNTER

THREADS, REGIONS = 3, 10


with_daemon = frtest.with_daemon


def check_app_in_perfetto(tr, app):
    """Exact counts for one fr-testapp in a decoded trace."""
    assert tr.processes().get(app.pid) == app.name, tr.processes()
    threads = tr.thread_tracks(app.pid)
    names = sorted(t["name"] for t in threads.values())
    assert names == ["t%d" % i for i in range(app.threads)], names
    for uuid, t in threads.items():
        on = {uuid}
        assert len(tr.on(on, SLICE_BEGIN, "work")) == app.regions, t
        waits = tr.on(on, SLICE_BEGIN, "lock wait: mutex")
        assert len(waits) == app.regions, (t, len(waits))
        # every begin on the thread has its end: regions + waits
        assert len(tr.on(on, SLICE_END)) == 2 * app.regions
        logs = tr.on(on, INSTANT, "log")
        assert len(logs) == app.regions
        assert sorted(l["ann"]["message"] for l in logs) == sorted(
            "step %d" % k for k in range(app.regions))
        assert all(l["ann"]["category"] == "app" for l in logs)
        assert len(tr.on(on, COUNTER)) == 0  # counters go to counter tracks
    counters = [u for u, t in tr.tracks.items() if t["kind"] == "counter" and t["name"] == "progress"]
    assert counters, "no progress counter track"
    values = [e for e in tr.events if e["track"] in set(counters) and e["type"] == COUNTER]
    assert len([v for v in values if v["value"] is not None]) >= app.threads * app.regions
    tasks = [e for e in tr.events if e["type"] == SLICE_BEGIN and (e["name"] or "").startswith("job-")
             and tr.tracks.get(e["track"], {}).get("kind") == "track"
             and any(tr.tracks[e["track"]]["parent"] == u for u, t in tr.tracks.items()
                     if t["kind"] == "process" and t["pid"] == app.pid)]
    assert sorted(e["name"] for e in tasks) == ["job-%d" % i for i in range(app.threads)], tasks


def test_snapshot_exact_counts_perfetto_and_json():
    def run(d):
        apps = [App(d, "svc-a", THREADS, REGIONS), App(d, "svc-b", THREADS, REGIONS)]
        frtest.wait_for(lambda: len(d.processes()) == 2, 5, "2 registrations")
        st, h, body = d.get("/debug/flightrecorder")
        assert st == 200, body
        assert h["content-type"] == "application/octet-stream"
        assert ".pftrace" in h.get("content-disposition", "")
        frtest.check_perfetto(body)
        tr = Trace(body)
        for a in apps:
            check_app_in_perfetto(tr, a)
        # only one process: ?pid= and ?process=
        st, _, one = d.get("/debug/flightrecorder?pid=%d" % apps[0].pid)
        assert st == 200 and set(Trace(one).processes()) == {apps[0].pid}
        st, _, one = d.get("/debug/flightrecorder?process=svc-b")
        assert st == 200 and set(Trace(one).processes()) == {apps[1].pid}

        st, h, body = d.get("/debug/flightrecorder?format=json")
        assert st == 200 and h["content-type"].startswith("application/json")
        doc = json.loads(body)
        evs = doc["traceEvents"] if isinstance(doc, dict) else doc
        for a in apps:
            mine = [e for e in evs if e.get("pid") == a.pid]
            pname = [e for e in mine if e.get("ph") == "M" and e.get("name") == "process_name"]
            assert pname and pname[0]["args"]["name"] == a.name
            tnames = sorted(e["args"]["name"] for e in mine
                            if e.get("ph") == "M" and e.get("name") == "thread_name")
            assert tnames == ["t%d" % i for i in range(a.threads)], tnames
            work = [e for e in mine if e.get("name") == "work" and e.get("ph") in ("X", "B")]
            assert len(work) == a.threads * a.regions
            logs = [e for e in mine if e.get("ph") in ("i", "I")]
            assert len(logs) == a.threads * a.regions
            assert all(e["args"]["category"] == "app" for e in logs)
            cnt = [e for e in mine if e.get("ph") == "C" and e.get("name") == "progress"]
            assert len(cnt) == a.threads * a.regions
            tb = sorted(e["name"] for e in mine if e.get("ph") == "b")
            assert tb == ["job-%d" % i for i in range(a.threads)], tb
            assert len([e for e in mine if e.get("ph") == "s"]) == 1
            assert len([e for e in mine if e.get("ph") == "f"]) == 1
        for a in apps:
            a.stop()
    with_daemon(run)


def test_unix_socket_serves_the_same_bytes():
    def run(d):
        a = App(d, "svc", THREADS, REGIONS)
        frtest.wait_for(lambda: d.processes(), 5, "registration")
        st1, _, tcp = d.get("/debug/flightrecorder")
        st2, _, unix = d.get("/debug/flightrecorder", unix=True)
        assert st1 == st2 == 200
        assert tcp == unix, "TCP and unix socket snapshots differ with no new events"
        mode = os.stat(d.http_sock).st_mode & 0o777
        assert mode == 0o660, oct(mode)
        a.stop()
    with_daemon(run)


def test_two_snapshots_without_new_events_are_identical():
    def run(d):
        a = App(d, "svc", THREADS, REGIONS)
        frtest.wait_for(lambda: d.processes(), 5, "registration")
        _, _, s1 = d.get("/debug/flightrecorder")
        time.sleep(1.2)
        _, _, s2 = d.get("/debug/flightrecorder")
        assert s1 == s2, "snapshots differ: %d vs %d bytes" % (len(s1), len(s2))
        _, _, j1 = d.get("/debug/flightrecorder?format=json&seconds=5")
        _, _, j2 = d.get("/debug/flightrecorder?format=json&seconds=5")
        assert j1 == j2
        a.stop()
    with_daemon(run)


def test_sigkilled_process_stays_readable():
    def run(d):
        a = App(d, "victim", THREADS, REGIONS)
        frtest.wait_for(lambda: d.processes(), 5, "registration")
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait()
        frtest.wait_for(lambda: d.processes()[0]["state"] == "died", 5, "death noticed")
        st, _, body = d.get("/debug/flightrecorder?pid=%d" % a.pid)
        assert st == 200
        frtest.check_perfetto(body)
        tr = Trace(body)
        check_app_in_perfetto(tr, a)
        proc = {u for u, t in tr.tracks.items() if t["kind"] == "process"}
        died = tr.on(proc, INSTANT, "process died")
        assert len(died) == 1 and died[0]["ann"]["how"].startswith("died"), died
        # a normal exit says goodbye with its status, and the trace says so
        # (paused until registered: a process that exits before its first
        # registration has nobody to say goodbye to)
        b = App(d, "leaver", THREADS, REGIONS, then="pause")
        d.wait_process(b.pid)
        assert b.stop() == 0
        d.wait_process(b.pid, "exited")
        st, _, body = d.get("/debug/flightrecorder?pid=%d" % b.pid)
        tr = Trace(body)
        proc = {u for u, t in tr.tracks.items() if t["kind"] == "process"}
        ex = tr.on(proc, INSTANT, "process exited")
        assert len(ex) == 1 and ex[0]["ann"]["exit_status"] == 0, ex
        frtest.check_perfetto(body)
        st, _, body = d.get("/debug/flightrecorder?pid=%d&format=json" % b.pid)
        evs = json.loads(body)
        evs = evs["traceEvents"] if isinstance(evs, dict) else evs
        ends = [e for e in evs if e.get("name") == "process exited" and e.get("s") == "p"]
        assert len(ends) == 1 and ends[0]["args"]["exit_status"] == 0, ends
    with_daemon(run)


def test_daemon_restart_serves_running_processes_again():
    d = Daemon().start()
    try:
        a = App(d, "survivor", THREADS, REGIONS)
        frtest.wait_for(lambda: d.processes(), 5, "registration")
        d.stop()
        time.sleep(0.3)
        d.start()
        t0 = time.monotonic()
        d.wait_process(a.pid)
        took = time.monotonic() - t0
        assert took < 2.0, "re-registered after %.2fs" % took
        st, _, body = d.get("/debug/flightrecorder?pid=%d" % a.pid)
        assert st == 200
        check_app_in_perfetto(Trace(body), a)  # what it recorded before
        a.stop()
    finally:
        d.cleanup()


def test_full_speed_writer_20_snapshots_all_valid():
    def run(d):
        # small rings so that every snapshot is a full, wrapped ring
        a = App(d, "spinner", THREADS, REGIONS, then="spin",
                env={"FLIGHTREC_RING_BYTES": "64k"})
        frtest.wait_for(lambda: d.processes(), 5, "registration")
        with_spinner = 0
        for i in range(20):
            st, _, body = d.get("/debug/flightrecorder?seconds=1")
            assert st == 200
            # not --strict: the region running at snapshot time is open
            # ("Did not end"), as it must be
            frtest.check_perfetto(body, strict=False)
            tr = Trace(body)
            spin = [u for u, t in tr.thread_tracks(a.pid).items() if t["name"] == "spinner"]
            if not spin:
                # the writer lapped its whole ring during every retry of the
                # copy (a preempted reader): nothing of it is whole
                continue
            with_spinner += 1
            begins = len(tr.on(set(spin), SLICE_BEGIN, "spin"))
            ends = len(tr.on(set(spin), SLICE_END))
            assert begins > 0 and abs(begins - ends) <= 1, (i, begins, ends)
        assert with_spinner >= 18, "only %d of 20 snapshots hold the writer" % with_spinner
        a.stop()
    with_daemon(run)


def test_bad_requests_get_4xx_with_a_reason():
    def run(d):
        cases = [
            ("/nope", 404, "no such endpoint"),
            ("/debug/flightrecorder?seconds=0", 400, "seconds"),
            ("/debug/flightrecorder?seconds=-1", 400, "seconds"),
            ("/debug/flightrecorder?seconds=11", 400, "at most 10"),
            ("/debug/flightrecorder?seconds=abc", 400, "seconds"),
            ("/debug/flightrecorder?format=xml", 400, "format"),
            ("/debug/flightrecorder?pid=x", 400, "pid"),
            ("/debug/flightrecorder?bogus=1", 400, "unknown parameter"),
            ("/debug/flightrecorder?pid=999999", 404, "no registered process"),
            ("/debug/flightrecorder?x=%zz", 400, ""),
        ]
        for path, want, text in cases:
            st, h, body = d.get(path)
            assert st == want, (path, st, body)
            line = body.decode()
            assert line.endswith("\n") and line.count("\n") == 1, (path, line)
            assert text.lower() in line.lower(), (path, line)
        # DNS rebinding: a page under another name must not read traces
        st, _, body = d.get("/debug/flightrecorder", headers={"Host": "evil.example:6060"})
        assert st == 403 and b"loopback" in body, (st, body)
        assert d.get("/healthz", headers={"Host": "127.0.0.1:1"})[0] == 200
        assert d.get("/healthz", headers={"Host": "[::1]:1"})[0] == 200
        st, h, _ = d.get("/debug/flightrecorder", method="POST", body=b"")
        assert st == 405 and "GET" in h.get("allow", ""), (st, h)
        # an oversized request: 431
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431"), "no 431"
        s.close()
        # still healthy
        assert d.get("/healthz")[0] == 200
    with_daemon(run)


def test_bad_config_names_file_line_and_column():
    d = tempfile.mkdtemp()
    cases = [
        ("http:\n  lisen: 127.0.0.1:1\n", ":2:3:", "unknown key"),
        ("recording:\n  window: 5x0ms\n", ":2:11:", "duration"),
        ("http:\n  listen: 10.1.2.3:6060\n", ":2:", "allow_remote"),
        ("limits: [1, 2\n", ":", ""),
    ]
    for text, where, what in cases:
        path = os.path.join(d, "bad.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([frtest.bin_path("flightrecd"), "--check-config", path],
                           capture_output=True, text=True)
        assert r.returncode == 1, (text, r)
        err = r.stderr.strip()
        assert err.startswith(path + where), (text, err)
        assert what in err, (text, err)
        # the daemon refuses to start on it too
        r = subprocess.run([frtest.bin_path("flightrecd"), "--config", path],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and path in r.stderr
    r = subprocess.run([frtest.bin_path("flightrecd"), "--check-config",
                        os.path.join(frtest.SOURCE, "config/flightrec.yaml")], capture_output=True)
    assert r.returncode == 0, r


def test_sighup_reload_keeps_old_config_when_bad():
    def run(d):
        with open(d.config, "a") as f:
            f.write("limits:\n  max_concurrent_snapshots: 3\n")
        d.proc.send_signal(signal.SIGHUP)
        frtest.wait_for(lambda: 'flightrec_config_reloads_total{result="ok"} 1' in
                        d.get("/metrics")[2].decode(), 5, "reload")
        with open(d.config, "a") as f:
            f.write("bogus_key: 1\n")
        d.proc.send_signal(signal.SIGHUP)
        frtest.wait_for(lambda: 'flightrec_config_reloads_total{result="refused"} 1' in
                        d.get("/metrics")[2].decode(), 5, "refused reload")
        assert "bogus_key" in d.log_text()
        assert d.get("/healthz")[0] == 200
    with_daemon(run)


def test_metrics_pass_promtool():
    def run(d):
        a = App(d, 'we"ird\\name', THREADS, REGIONS)
        frtest.wait_for(lambda: d.processes(), 5, "registration")
        d.get("/debug/flightrecorder")
        st, h, body = d.get("/metrics")
        assert st == 200 and h["content-type"].startswith("text/plain")
        text = body.decode()
        for name in ("flightrec_processes", "flightrec_process_threads",
                     "flightrec_process_events_dropped_total", "flightrec_ring_bytes",
                     "flightrec_snapshots_total", "flightrec_snapshot_duration_seconds_bucket",
                     "flightrec_registrations_refused_total", "flightrec_build_info",
                     "flightrec_open_fds", "flightrec_max_fds"):
            assert name in text, name
        assert 'flightrec_snapshots_total{result="served"} 1' in text
        promtool = "/usr/bin/promtool"
        if os.access(promtool, os.X_OK):
            r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
            assert r.returncode == 0, r.stdout + r.stderr
        else:
            print("promtool not installed: format checked by name only")
        a.stop()
    with_daemon(run)


def test_sd_notify_ready_and_stopping():
    sock_dir = tempfile.mkdtemp()
    path = os.path.join(sock_dir, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    d = Daemon()
    os.environ["NOTIFY_SOCKET"] = path
    try:
        d.start()
        msgs = s.recv(4096).decode()
        assert "READY=1" in msgs, msgs
        d.stop()
        msgs = s.recv(4096).decode()
        assert "STOPPING=1" in msgs, msgs
    finally:
        del os.environ["NOTIFY_SOCKET"]
        d.cleanup()
        s.close()


def test_cli_status_and_snapshot():
    def run(d):
        a = App(d, "cli-app", THREADS, REGIONS)
        frtest.wait_for(lambda: d.processes(), 5, "registration")
        cli = frtest.bin_path("flightrec")
        r = subprocess.run([cli, "--socket", d.http_sock, "status"], capture_output=True, text=True)
        assert r.returncode == 0 and "cli-app" in r.stdout and "live" in r.stdout, r
        out = os.path.join(d.dir, "snap.pftrace")
        r = subprocess.run([cli, "--socket", d.http_sock, "snapshot", "-o", out, "--pid",
                            str(a.pid), "--seconds", "5"], capture_output=True, text=True)
        assert r.returncode == 0, r
        with open(out, "rb") as f:
            check_app_in_perfetto(Trace(f.read()), a)
        r = subprocess.run([cli, "--url", "http://127.0.0.1:%d" % d.port, "snapshot", "-o", out,
                            "--seconds", "0"], capture_output=True, text=True)
        assert r.returncode == 1 and "400" in r.stderr and "seconds" in r.stderr, r
        a.stop()
    with_daemon(run)
    r = subprocess.run([frtest.bin_path("flightrec"), "--socket", "/nonexistent/s", "status"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "is flightrecd running" in r.stderr, r


def _ctl_hello():
    import struct
    # struct fr_ctl_msg (common/ctl.h): magic, version, type, abi_major,
    # status, region_size, window_ns, text[128], then the TRIGGER fields
    return struct.pack("<IHHIiQQ128sQQQQII48sQ", 0x4c544346, 2, 1, 1, 0, 0, 0, b"",
                       0, 0, 0, 0, 0, 0, b"", 0)


def test_hostile_clients_cannot_crash_or_stall_the_daemon():
    def run(d):
        def memfd(size, seal, fill=None):
            fd = os.memfd_create("hostile", os.MFD_ALLOW_SEALING)
            os.ftruncate(fd, size)
            if fill:
                os.pwrite(fd, fill * (size // len(fill)), 0)
            if seal:
                import fcntl
                fcntl.fcntl(fd, 1033, 0x0002 | 0x0004)  # F_ADD_SEALS: SHRINK|GROW
            return fd

        def register(fd):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(d.control)
            socket.send_fds(s, [_ctl_hello()], [fd] if fd is not None else [])
            s.settimeout(5)
            try:
                return s.recv(512)
            finally:
                s.close()

        for fd in (memfd(1 << 20, False), memfd(64, True), memfd(1 << 20, True, b"\xde\xad"),
                   None):
            reply = register(fd)
            if fd is not None:
                os.close(fd)
            assert len(reply) == 256 and reply[6] == 3, reply[:8]  # REFUSED
        # a flood: many connections that say nothing, and garbage
        flood = []
        for i in range(300):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                s.connect(d.control)
            except OSError:
                s.close()
                continue
            try:
                if i % 3 == 0:
                    s.send(b"garbage")
            except OSError:
                pass  # beyond its pending limit the daemon hangs up at once
            flood.append(s)
        # the daemon still serves and still registers a real process
        assert d.get("/healthz")[0] == 200
        a = App(d, "honest", THREADS, REGIONS)
        d.wait_process(a.pid)
        st, _, body = d.get("/debug/flightrecorder?pid=%d" % a.pid)
        assert st == 200
        check_app_in_perfetto(Trace(body), a)
        for s in flood:
            s.close()
        m = d.get("/metrics")[2].decode()
        refused = [l for l in m.splitlines() if l.startswith("flightrec_registrations_refused_total ")]
        assert refused and int(refused[0].split()[1]) >= 4, refused
        a.stop()
    with_daemon(run)


def test_client_gone_mid_snapshot_costs_nothing_else():
    def run(d):
        a = App(d, "big", 8, 500)
        frtest.wait_for(lambda: d.processes(), 5, "registration")
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", d.port))
            s.sendall(b"GET /debug/flightrecorder HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(100)  # the response has started
            s.close()
        frtest.wait_for(lambda: 'flightrec_snapshots_running 0' in d.get("/metrics")[2].decode(),
                        10, "aborted snapshots to finish")
        st, _, body = d.get("/debug/flightrecorder")
        assert st == 200
        frtest.check_perfetto(body)
        a.stop()
    with_daemon(run)


def test_process_started_before_the_daemon_is_served_with_its_past():
    d = Daemon()
    try:
        a = App(d, "early-bird", THREADS, REGIONS)  # no daemon yet: records alone
        time.sleep(0.3)
        d.start()
        t0 = time.monotonic()
        d.wait_process(a.pid)
        assert time.monotonic() - t0 < 2.0
        st, _, body = d.get("/debug/flightrecorder")
        assert st == 200
        check_app_in_perfetto(Trace(body), a)  # what it recorded before the daemon
        a.stop()
    finally:
        d.cleanup()


TESTS = {n: f for n, f in globals().items() if n.startswith("test_")}

if __name__ == "__main__":
    frtest.main(TESTS)
