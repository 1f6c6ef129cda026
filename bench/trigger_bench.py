#!/usr/bin/env python3
"""trigger_bench.py - trigger to file: how long after a slow task ends its
snapshot is on disk, a flightrec rule against an LTTng trigger, in one run.

    python3 bench/trigger_bench.py [--build BUILD] [--triggers N]
                                   [--gap-ms MS] [--no-lttng] [--cases busy,idle]

Runs the real binaries of BUILD (flightrecd, bench-fillapp,
bench-fillapp-lttng, bench-dirwatch) on this machine only, prints progress
on stderr and one table on stdout. Never fails on a number: the exit
status is 0 unless something could not be measured (a trigger that wrote
no file, a watcher that lost events, an app that died).
docs/performance.md ("Trigger to file") describes the method.

- flightrec: flightrecd with the rule `slow` (task "GET /orders" over
  5 ms, after 0s, cooldown 0s, scope process) and a snapshot store. The
  app, bench-fillapp --then serve, ends a 10 ms task "GET /orders" on
  request and prints CLOCK_MONOTONIC read just before fr_task_end(); the
  library fires, the daemon writes `<base>.meta.json` then renames
  `<base>.pftrace` into the store. The trace file is visible at that
  rename (IN_MOVED_TO).
- LTTng: a snapshot session, and a trigger
  `--condition=event-rule-matches --type=user:tracepoint
  --name=flightrec_bench:task_end --filter='duration_ns >= 5000000'
  --action=snapshot-session`; the app, bench-fillapp-lttng --then serve,
  emits task_end at the end of the same 10 ms task and prints the clock
  read just before. LTTng writes a new directory of stream files, the
  metadata last; the snapshot is complete when its metadata file is
  closed (IN_CLOSE_WRITE), every stream file having been closed before.
- Both: bench-dirwatch (inotify, CLOCK_MONOTONIC stamped when read()
  returns) watches the output directories. Triggers alternate, LTTng half
  a gap after flightrec, each side's own triggers a gap apart (300 ms),
  each waited for before the next: no two writes overlap. The first
  trigger of each side is reported alone (cold), then N are timed.
  Cases: "busy", both apps recording a steady workload (2 threads x 100
  events/ms each, buffers of 4 MiB: the window holds a few MB), and
  "idle", a window holding the slow tasks only (fresh session for LTTng).

Every process it starts dies with it (PR_SET_PDEATHSIG, stopped by pid);
LTTng runs under a private LTTNG_HOME, with a session daemon started and
stopped only if none runs, and its trigger removed at the end.
"""
import argparse
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in bench/ or tests/
import daemon_bench as db  # noqa: E402  (spawn, stop_all, start_daemon, Lttng, machine)
import frtest  # noqa: E402  (imported by daemon_bench from tests/integration)

MiB = 1 << 20
MS = 1000 * 1000  # ns
RULE = "slow"
THRESHOLD_MS = 5
SLOW_MS = 10               # the slow task; over both thresholds
TARGET_P99_MS = 25
WAIT_S = 5                 # a trigger whose file is not there by then is broken
BUSY_THREADS, BUSY_RATE, RING = 2, 100, 2 * MiB   # events per ms per thread
LTTNG_SUBBUFS = 4

RULES_CONFIG = """snapshots:
  dir: @DIR@/snapshots
limits:
  max_snapshots_per_hour: 3600
rules:
  - name: %s
    on: task
    match: "GET /orders"
    threshold: %dms
    after: 0s
    cooldown: 0s
""" % (RULE, THRESHOLD_MS)


def log(msg):
    print("trigger_bench: " + msg, file=sys.stderr, flush=True)


class Broken(RuntimeError):
    """A measurement that could not be made; the exit status says so."""


class Watch:
    """bench-dirwatch on a directory (--mount: closes from fanotify); its
    events as (mono_ns, kind, path), read by a thread into a queue."""

    def __init__(self, path, mount=False):
        self.proc = db.spawn([frtest.bin_path("bench-dirwatch")] + (["--mount"] if mount else [])
                             + [path], stdout=subprocess.PIPE)
        if self.proc.stdout.readline().decode().strip() != "ready":
            raise Broken("bench-dirwatch %s did not start (exit %s)" % (path, self.proc.poll()))
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            f = line.decode().rstrip("\n").split(" ", 2)
            self.q.put((int(f[0]), f[1], f[2] if len(f) > 2 else ""))
        self.q.put(None)

    def drain(self, old=()):
        """Events nobody waited for, but those under the directories old
        (late lines of a snapshot already measured). There should be none."""
        got = []
        while True:
            try:
                ev = self.q.get_nowait()
            except queue.Empty:
                return got
            if ev is None or ev[1] == "overflow":
                raise Broken("bench-dirwatch lost events or stopped")
            if ev[2].split("/")[0] not in old:
                got.append(ev)

    def until(self, done, what):
        """Events up to and including the first for which done(ev) holds."""
        end, got = time.monotonic() + WAIT_S, []
        while True:
            try:
                ev = self.q.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise Broken("no %s within %d s (saw %s)" % (what, WAIT_S, got[-3:]))
            if ev is None or ev[1] == "overflow":
                raise Broken("bench-dirwatch lost events or stopped")
            got.append(ev)
            if done(ev):
                return got


class Server:
    """bench-fillapp[-lttng] --then serve: a slow request per fire()."""

    def __init__(self, binary, args, env):
        self.proc = db.spawn([frtest.bin_path(binary)] + args + ["--then", "serve"], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            raise Broken("%s said %r (exit %s)" % (binary, line, self.proc.poll()))
        self.pid = self.proc.pid
        self.binary = binary

    def fire(self):
        """Ends one slow task; returns the app's CLOCK_MONOTONIC at its end."""
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()
        f = self.proc.stdout.readline().decode().split()
        if len(f) != 3 or f[0] != "fired":
            raise Broken("%s said %r (exit %s)" % (self.binary, f, self.proc.poll()))
        return int(f[2])

    def stop(self):
        db.stop_all([self.proc])


# ---- flightrec side ----

class Flightrec:
    def __init__(self):
        self.app = None
        self.d = db.start_daemon(RULES_CONFIG)
        self.store = os.path.join(self.d.dir, "snapshots")
        if not os.path.isdir(self.store):
            raise Broken("flightrecd made no store directory %s" % self.store)
        self.watch = Watch(self.store)

    def start_app(self, case):
        env = self.d.env()
        if case.rate:
            env["FLIGHTREC_RING_BYTES"] = str(RING)
        # A region begin or end is a 16-byte unit: fill the rings twice.
        self.app = Server("bench-fillapp", case.app_args("trig-" + case.name, 2 * RING // 16),
                          env)
        db.wait_registered(self.d, [self.app.pid], 20)

    def stop_app(self):
        if self.app:
            self.app.stop()
        self.app = None

    def trigger(self):
        """One slow task; a dict of what the file's appearance says."""
        stray = self.watch.drain()
        if stray:
            log("flightrec: stray store events before a trigger: %s" % stray[:3])
        t0 = self.app.fire()
        evs = self.watch.until(lambda e: e[1] == "moved" and e[2].endswith(".pftrace"),
                               "trace file in the store")
        trace = evs[-1][2]
        base = trace[:-len(".pftrace")]
        meta_ev = [e for e in evs if e[1] == "moved" and e[2] == base + ".meta.json"]
        if not meta_ev:
            raise Broken("%s appeared without its sidecar before it" % trace)
        with open(os.path.join(self.store, base + ".meta.json")) as f:
            meta = json.load(f)
        if meta.get("rule") != RULE or meta.get("pid") != self.app.pid:
            raise Broken("%s is not the app's: %s" % (trace, meta))
        first = min(e[0] for e in evs if e[1] == "create")
        # Closed after its fsync (store_commit()), before the sidecar is made.
        body = [e[0] for e in evs if e[1] == "close" and e[2] == "." + trace + ".tmp"]
        if not body:
            raise Broken("no close of %s's temporary file seen" % trace)
        return {"lat": evs[-1][0] - t0, "start": first - t0, "body": body[0] - t0,
                "skew": meta["time_mono_ns"] - t0,
                "bytes": os.path.getsize(os.path.join(self.store, trace))}

    def fini(self):
        self.d.cleanup()


# ---- LTTng side ----

class Lttng(db.Lttng):
    """daemon_bench's private LTTNG_HOME and session daemon, with a
    snapshot session made afresh for each case and one trigger that
    snapshots it when flightrec_bench:task_end reports a slow task."""

    def __init__(self):
        super().__init__("fr-tbench")
        self.trigger_name = None
        os.makedirs(self.out)

    def session_start(self, window):
        """Per-UID overwrite buffers of `window` bytes in all, recording
        flightrec_bench:* (the workload and the slow tasks)."""
        ncpu = db.possible_cpus()
        subbuf = 1 << max(12, (window // ncpu // LTTNG_SUBBUFS).bit_length() - 1)
        self.run("create", self.session, "--snapshot", "-o", self.out)
        self.made = True
        self.run("enable-channel", "-u", "-s", self.session, "--buffers-uid", "--overwrite",
                 "--subbuf-size", str(subbuf), "--num-subbuf", str(LTTNG_SUBBUFS), "trig")
        self.run("enable-event", "-u", "-s", self.session, "-c", "trig", "flightrec_bench:*")
        self.run("start", self.session)
        self.buffers = "%d CPUs x %d x %d KiB" % (ncpu, LTTNG_SUBBUFS, subbuf // 1024)

    def session_stop(self):
        if self.made:
            self.run("destroy", self.session)
            self.made = False

    def add_trigger(self):
        name = self.session + "-slow"
        self.run("add-trigger", "--name=" + name, "--condition=event-rule-matches",
                 "--type=user:tracepoint", "--name=flightrec_bench:task_end",
                 "--filter=duration_ns >= %d" % (THRESHOLD_MS * MS),
                 "--action=snapshot-session", self.session)
        self.trigger_name = name

    def fini(self):
        if self.trigger_name:
            self.run("remove-trigger", self.trigger_name, check=False)
        super().fini()


class LttngSide:
    def __init__(self):
        self.app = None
        self.done = set()  # snapshot directories measured
        self.lt = Lttng()
        self.lt.start_sessiond()
        self.lt.add_trigger()
        # A snapshot's tree appears at once: its closes come from fanotify.
        self.watch = Watch(self.lt.out, mount=True)

    def start_app(self, case):
        self.lt.session_start(case.window)
        log("lttng: snapshot session, per-UID buffers %s" % self.lt.buffers)
        # An event is about 12 bytes or more (daemon_bench.Lttng.setup()):
        # the fill writes the buffers twice over.
        self.app = Server("bench-fillapp-lttng",
                          case.app_args("", 2 * case.window // (12 * case.threads)), self.lt.env)

    def stop_app(self):
        if self.app:
            self.app.stop()
        self.app = None
        self.lt.session_stop()

    def trigger(self):
        """One slow task; the snapshot is complete when its metadata file,
        written last, is closed."""
        stray = self.watch.drain(self.done)
        if stray:
            log("lttng: stray snapshot events before a trigger: %s" % stray[:3])
        t0 = self.app.fire()
        evs = self.watch.until(lambda e: e[1] == "close" and e[2].endswith("/metadata"),
                               "LTTng snapshot metadata")
        done = evs[-1][0]
        top = evs[-1][2].split("/")[0]
        self.done.add(top)
        if not any(e[1] == "mkdir" and e[2] == top for e in evs):
            evs += self.watch.until(lambda e: e[1] == "mkdir" and e[2] == top,
                                    "mkdir of %s" % top)
        start = min(e[0] for e in evs if e[1] == "mkdir" and e[2] == top)
        closed = {e[2]: e[0] for e in evs if e[1] == "close" and e[0] <= done}
        path = os.path.join(self.lt.out, top)
        files = [os.path.relpath(os.path.join(r, f), self.lt.out)
                 for r, _, fs in os.walk(path) for f in fs]
        if not files or set(files) - set(closed):
            raise Broken("LTTng snapshot %s: metadata closed before %s"
                         % (top, set(files) - set(closed)))
        size = db.du(path)
        shutil.rmtree(path, ignore_errors=True)
        return {"lat": done - t0, "start": start - t0,
                "body": max(t for p, t in closed.items() if not p.endswith("/metadata")) - t0,
                "bytes": size}

    def fini(self):
        self.lt.fini()


# ---- the run ----

class Case:
    def __init__(self, name, threads, rate, window):
        self.name, self.threads, self.rate, self.window = name, threads, rate, window

    def app_args(self, name, fill_events):
        a = ["--threads", str(self.threads), "--rate", str(self.rate), "--slow-ms", str(SLOW_MS),
             "--events", str(fill_events if self.rate else 4)]
        return a + (["--name", name] if name else [])


def run_case(case, fr, lt, n, gap):
    """Cold trigger then n timed ones per side, LTTng half a gap behind."""
    try:
        fr.start_app(case)
        if lt:
            lt.start_app(case)
        time.sleep(1.0)  # let the workload fill the window and settle
        out = {"fr": [], "lt": []}
        log("%s: %d triggers per side, %d ms apart" % (case.name, n + 1, gap * 1000))
        for _ in range(n + 1):
            slot = time.monotonic()
            out["fr"].append(fr.trigger())
            if lt:
                time.sleep(max(0.0, slot + gap / 2 - time.monotonic()))
                out["lt"].append(lt.trigger())
            time.sleep(max(0.0, slot + gap - time.monotonic()))
        return out
    finally:
        fr.stop_app()
        if lt:
            lt.stop_app()


def pct(v, q):
    """Nearest rank: over 20 samples p50 is the 10th, p90 the 18th, p99 the 20th."""
    s = sorted(v)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def ms(ns):
    return "%.2f ms" % (ns / MS)


def size(b):
    return "%.2f MB" % (b / 1e6) if b >= 100 * 1000 else "%.1f kB" % (b / 1e3)


def rows_of(case, res):
    fr, lt = res["fr"], res["lt"]
    rows = []
    for side, v in (("flightrec", fr), ("lttng", lt)):
        if v:
            log("%s %s samples (start/data closed/file), ms: %s" % (
                case, side, " ".join("%.1f/%.1f/%.1f" % (x["start"] / MS, x["body"] / MS,
                                                          x["lat"] / MS) for x in v)))

    def row(what, f, lv, target="", status="-"):
        ratio = "%.2f" % (f / lv) if lv else ""
        rows.append((case + ": " + what, ms(f), ms(lv) if lv is not None else "n/a", ratio,
                     target, status))

    lat_f = [x["lat"] for x in fr[1:]]
    lat_l = [x["lat"] for x in lt[1:]] if lt else None
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
        f = pct(lat_f, q)
        is_p99 = name == "p99"
        row("trigger -> file, %s" % name, f, pct(lat_l, q) if lt else None,
            "<= %d ms" % TARGET_P99_MS if is_p99 else "",
            ("ok" if f <= TARGET_P99_MS * MS else "MISS") if is_p99 else "-")
    row("first trigger of the case", fr[0]["lat"], lt[0]["lat"] if lt else None)
    for what, key in (("trigger -> writing starts, p50", "start"),
                      ("trigger -> trace data closed, p50", "body")):
        row(what, pct([x[key] for x in fr[1:]], 0.5),
            pct([x[key] for x in lt[1:]], 0.5) if lt else None)
    skew = [x["skew"] for x in fr]
    rows.append((case + ": sidecar time_mono_ns - app clock", "%+.1f..%+.1f us"
                 % (min(skew) / 1e3, max(skew) / 1e3), "", "", "", "-"))
    fb = sorted(x["bytes"] for x in fr[1:])
    lb = sorted(x["bytes"] for x in lt[1:]) if lt else None
    rows.append((case + ": bytes written, median", size(fb[len(fb) // 2]),
                 size(lb[len(lb) // 2]) if lt else "n/a", "", "", "-"))
    return rows


def print_table(head, rows):
    cols = ("measurement", "flightrec", "LTTng", "fr/LTTng", "target", "status")
    w = [max(len(r[i]) for r in rows + [cols]) for i in range(6)]
    fmt = "%-{0}s  %{1}s  %{2}s  %{3}s  %-{4}s  %s".format(*w[:5])
    print(head)
    print(fmt % cols)
    print(fmt % tuple("-" * x for x in w))
    for r in rows:
        print((fmt % r).rstrip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(db.SOURCE, "build"))
    ap.add_argument("--triggers", type=int, default=20, help="timed triggers per side and case")
    ap.add_argument("--gap-ms", type=int, default=300, help="between two triggers of one side")
    ap.add_argument("--no-lttng", action="store_true")
    ap.add_argument("--cases", default="busy,idle", help="which of busy, idle to run")
    a = ap.parse_args()
    frtest.BUILD = os.path.abspath(a.build)
    for b in ("flightrecd", "bench-fillapp", "bench-dirwatch"):
        if not os.access(frtest.bin_path(b), os.X_OK):
            sys.exit("trigger_bench: %s is not built in %s" % (b, frtest.BUILD))
    use_lttng = not a.no_lttng and os.access(frtest.bin_path("bench-fillapp-lttng"), os.X_OK)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))

    cases = [c for c in (Case("busy", BUSY_THREADS, BUSY_RATE, BUSY_THREADS * RING),
                         Case("idle", 1, 0, BUSY_THREADS * RING))
             if c.name in a.cases.split(",")]
    t0, load0 = time.monotonic(), os.getloadavg()[0]
    rows, broken, lt_why = [], [], "" if use_lttng else "not built or --no-lttng"
    fr = lt = None
    try:
        fr = Flightrec()
        if use_lttng:
            try:
                lt = LttngSide()
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                lt_why = str(e)
                log("lttng: n/a (%s)" % lt_why)
        for case in cases:
            try:
                rows += rows_of(case.name, run_case(case, fr, lt, a.triggers, a.gap_ms / 1e3))
            except (RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as e:
                log("%s: could not be measured: %s" % (case.name, e))
                broken.append(case.name)
    except (RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as e:
        log("could not be measured: %s" % e)
        broken.append("setup")
    finally:
        if lt:
            lt.fini()
        if fr:
            fr.fini()
        db.stop_all(db._children)
    head = ("trigger to file, %d timed triggers per side and case, %d ms apart; one run of %.0f s\n"
            "%s\nflightrec: rule on task > %d ms, after 0s; LTTng: event-rule-matches trigger, "
            "snapshot-session%s\n"
            "busy: %d threads x %d events/ms, flightrec rings %d x %d MiB, LTTng per-UID "
            "buffers as large; idle: no workload\n"
            "percentiles by nearest rank (of 20: p50 the 10th, p90 the 18th, p99 the max)\n"
            % (a.triggers, a.gap_ms, time.monotonic() - t0, db.machine(load0), THRESHOLD_MS,
               "" if lt else " (n/a: %s)" % lt_why, BUSY_THREADS, BUSY_RATE, BUSY_THREADS,
               RING // MiB))
    if rows:
        print_table(head, rows)
    if broken:
        print("not measured: %s (see stderr)" % ", ".join(broken))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
