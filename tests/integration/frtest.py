"""frtest.py - helpers for integration tests that run the real flightrecd
and real instrumented processes (Python standard library only).

The tests check traces two ways: the shared validator (check-perfetto, when
it is beside the checkout) and this module's own Perfetto wire decoder,
which turns a trace into per-track counts and names the tests compare
exactly.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("FR_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CHECK_PERFETTO = os.environ.get(
    "FR_CHECK_PERFETTO", os.path.join(SOURCE, "../shared/formats/check-perfetto"))
SKIP = 77


def bin_path(name):
    return os.path.join(BUILD, "bin", name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Daemon:
    """A flightrecd with every path in a temporary directory; @DIR@ in
    extra_config names that directory."""

    def __init__(self, extra_config="", window="10s"):
        self.dir = tempfile.mkdtemp(prefix="fr-it-")
        self.port = free_port()
        self.control = os.path.join(self.dir, "control.sock")
        self.http_sock = os.path.join(self.dir, "http.sock")
        self.config = os.path.join(self.dir, "flightrec.yaml")
        with open(self.config, "w") as f:
            f.write("http:\n  listen: 127.0.0.1:%d\n  unix_socket: %s\n"
                    "control_socket: %s\nrecording:\n  window: %s\n%s"
                    % (self.port, self.http_sock, self.control, window,
                       extra_config.replace("@DIR@", self.dir)))
        self.log = os.path.join(self.dir, "flightrecd.log")
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([bin_path("flightrecd"), "--config", self.config],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        wait_for(lambda: self._healthy(), 10, "flightrecd /healthz")
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("flightrecd exited with %d:\n%s" % (self.proc.returncode,
                                                                     self.log_text()))
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("flightrecd did not stop on %s" % sig)
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def get(self, path, unix=False, method="GET", body=None, headers=None):
        conn = (UnixHTTPConnection(self.http_sock) if unix
                else http.client.HTTPConnection("127.0.0.1", self.port, timeout=30))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            conn.close()

    def env(self):
        e = dict(os.environ)
        e["FLIGHTREC_SOCKET"] = self.control
        return e

    def processes(self):
        st, _, body = self.get("/debug/flightrecorder/processes")
        assert st == 200, body
        return json.loads(body)

    def wait_process(self, pid, state=None, timeout=5):
        """Waits until the daemon lists pid (in state, when given): a
        process says it is ready before its library has registered."""
        wait_for(lambda: any(p["pid"] == pid and (state is None or p["state"] == state)
                             for p in self.processes()), timeout,
                 "pid %d %s" % (pid, state or "registered"))


def with_daemon(fn, **kw):
    """Runs fn(d) with a started Daemon(**kw); prints its log when fn
    fails, cleans up always."""
    d = Daemon(**kw).start()
    try:
        fn(d)
    except Exception:
        print("---- flightrecd log ----\n" + d.log_text())
        raise
    finally:
        d.cleanup()


class App:
    """fr-testapp registered with a daemon; see tests/integration/testapp.c.
    Every App still running when the test ends is killed (atexit): a
    paused one left behind would hold CTest's pipes open."""

    running = []

    def __init__(self, daemon, name, threads=2, regions=10, then="pause", env=None):
        e = daemon.env()
        e.update(env or {})
        self.proc = subprocess.Popen(
            [bin_path("fr-testapp"), "--name", name, "--threads", str(threads),
             "--regions", str(regions), "--then", then],
            stdout=subprocess.PIPE, env=e)
        line = self.proc.stdout.readline().decode()
        if then != "kill":
            assert line.startswith("ready "), "fr-testapp said %r" % line
        self.pid = self.proc.pid
        self.name, self.threads, self.regions = name, threads, regions
        App.running.append(self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        return self.proc.returncode


def _kill_leftovers():
    for p in App.running:
        if p.poll() is None:
            p.kill()
            p.wait()


import atexit  # noqa: E402
atexit.register(_kill_leftovers)


def check_perfetto(data, strict=True):
    """Runs the shared validator on a trace; None when it is not here."""
    if not os.access(CHECK_PERFETTO, os.X_OK):
        return None
    with tempfile.NamedTemporaryFile(suffix=".pftrace") as f:
        f.write(data)
        f.flush()
        args = [CHECK_PERFETTO] + (["--strict"] if strict else []) + [f.name]
        r = subprocess.run(args, capture_output=True)
        if r.returncode != 0:
            raise AssertionError("check-perfetto exit %d:\n%s%s" % (
                r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")))
        return r.stdout.decode()


# ---- a small Perfetto decoder: just the fields flightrec writes ----

def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            return v, i


def fields(b):
    """Yields (field number, wire type, value) of one message."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def msg(b):
    d = {}
    for num, _, v in fields(b):
        d.setdefault(num, []).append(v)
    return d


class Trace:
    """Tracks and events of a Perfetto trace, names resolved."""

    def __init__(self, data):
        self.tracks = {}   # uuid -> dict(kind, name, pid, tid, parent)
        self.events = []   # dicts: track, type, name, ts, annotations, flows
        interned = {}      # (seq, iid) -> name
        default_track = {}  # seq -> track uuid from TracePacketDefaults
        for _, _, pkt in fields(data):
            p = msg(pkt)
            seq = p.get(10, [0])[0]
            if p.get(13, [0])[0] & 1:  # SEQ_INCREMENTAL_STATE_CLEARED
                interned = {k: v for k, v in interned.items() if k[0] != seq}
                default_track.pop(seq, None)
            if 59 in p:
                ted = msg(p[59][0]).get(11)
                if ted:
                    default_track[seq] = msg(ted[0]).get(11, [0])[0]
            for idata in p.get(12, []):
                idm = msg(idata)
                for en in idm.get(2, []):
                    e = msg(en)
                    interned[(seq, e[1][0])] = e[2][0].decode(errors="replace")
                for en in idm.get(3, []):
                    e = msg(en)
                    interned[(seq, "ann", e[1][0])] = e[2][0].decode(errors="replace")
            if 60 in p:
                td = msg(p[60][0])
                t = {"uuid": td[1][0], "parent": td.get(5, [0])[0],
                     "name": td.get(2, [b""])[0].decode(errors="replace")}
                if 3 in td:
                    pd = msg(td[3][0])
                    t.update(kind="process", pid=pd.get(1, [0])[0],
                             name=pd.get(6, [b""])[0].decode(errors="replace"))
                elif 4 in td:
                    th = msg(td[4][0])
                    t.update(kind="thread", pid=th.get(1, [0])[0], tid=th.get(2, [0])[0],
                             name=th.get(5, [b""])[0].decode(errors="replace"))
                elif 8 in td:
                    t.update(kind="counter")
                else:
                    t.update(kind="track")
                self.tracks[t["uuid"]] = t
            if 11 in p:
                te = msg(p[11][0])
                name = te.get(23, [None])[0]
                if name is not None:
                    name = name.decode(errors="replace")
                elif 10 in te:
                    name = interned.get((seq, te[10][0]))
                ann = {}
                for a in te.get(4, []):
                    am = msg(a)
                    key = (am[10][0].decode(errors="replace") if 10 in am
                           else interned.get((seq, "ann", am.get(1, [0])[0]), "?"))
                    if 6 in am:
                        ann[key] = am[6][0].decode(errors="replace")
                    elif 4 in am:
                        ann[key] = am[4][0]
                    elif 3 in am:
                        ann[key] = am[3][0]
                self.events.append({
                    "type": te.get(9, [0])[0], "name": name,
                    "track": te.get(11, [default_track.get(seq, 0)])[0],
                    "ts": p.get(8, [0])[0], "ann": ann,
                    "flows": [int.from_bytes(x, "little") for x in te.get(47, [])],
                    "tflows": [int.from_bytes(x, "little") for x in te.get(48, [])],
                    "value": te.get(30, [None])[0]})

    def thread_tracks(self, pid):
        return {u: t for u, t in self.tracks.items() if t["kind"] == "thread" and t["pid"] == pid}

    def processes(self):
        return {t["pid"]: t["name"] for t in self.tracks.values() if t["kind"] == "process"}

    def on(self, uuids, type_=None, name=None):
        return [e for e in self.events if e["track"] in uuids
                and (type_ is None or e["type"] == type_) and (name is None or e["name"] == name)]


SLICE_BEGIN, SLICE_END, INSTANT, COUNTER = 1, 2, 3, 4


def main(tests):
    """Runs test functions given on the command line (or all); exit 77 when
    one raises Skip, 1 on failure."""
    names = sys.argv[1:] or list(tests)
    failed = skipped = 0
    for n in names:
        try:
            tests[n]()
            print("ok - %s" % n)
        except Skip as e:
            print("skip - %s: %s" % (n, e))
            skipped += 1
        except Exception:
            import traceback
            traceback.print_exc()
            print("not ok - %s" % n)
            failed += 1
    print("%d passed, %d failed" % (len(names) - failed - skipped, failed)
          + (", %d skipped" % skipped if skipped else ""))
    sys.exit(1 if failed else SKIP if skipped == len(names) else 0)


class Skip(Exception):
    pass
