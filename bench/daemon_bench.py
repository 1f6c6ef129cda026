#!/usr/bin/env python3
"""daemon_bench.py - what flightrecd costs: snapshot time against LTTng,
memory, idle CPU, 500 registered processes, encoder throughput.

    python3 bench/daemon_bench.py --build BUILD [--reps N] [--idle-seconds S]
                                  [--procs N] [--no-lttng] [--parts LIST]

Runs the real binaries of BUILD (flightrecd, bench-fillapp,
bench-fillapp-lttng, fr-testapp, bench-encode) on this machine only
(loopback and unix sockets), prints progress on stderr and one table on
stdout. Never fails on a number: this runs on shared, noisy VMs, so each
row says ok or MISS and the exit status is 0 unless something could not be
measured at all. docs/performance.md ("The daemon") describes every row.

1. A full 8 MiB window: 8 writer threads with 1 MiB rings filled twice
   over, then holding still, in 8 bench-fillapp processes of one thread
   ([8x1] rows) and in one of eight threads ([1x8]; --shapes). After the
   first snapshot and WARMUP untimed ones, the time from connect until
   the client has the last byte of GET /debug/flightrecorder
   (a Python socket client, TCP and unix socket; and the `curl` command,
   writing a file, timed whole, spawn included, and by its own
   time_total), interleaved with `lttng snapshot
   record` of a snapshot session whose per-UID buffers hold 8 MiB of the
   same events (bench-fillapp-lttng), timed as a command.
2. Daemon memory from /proc/PID/status: idle (writers registered, no
   snapshot yet) and the peak of the first snapshot (VmHWM after resetting
   it through /proc/PID/clear_refs, plus RssAnon/RssShmem sampled every
   ~1 ms), and what stays after all snapshots.
3. Daemon CPU ticks (utime+stime, /proc/PID/stat) over an idle period.
4. N fr-testapp processes x 4 threads with 16 KiB rings against a fresh
   daemon: time until all are registered, one snapshot of all of them,
   checked by ../shared/formats/check-perfetto when it is there.
5. bench-encode's own table, summarised.

Every process it starts dies with it: children get PR_SET_PDEATHSIG and
are stopped by pid in a finally block; LTTng runs under a private
LTTNG_HOME with a session daemon started (and stopped) only if none runs.
"""
import argparse
import ctypes
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
sys.dont_write_bytecode = True  # no __pycache__ in tests/
import frtest  # noqa: E402  (the integration tests' daemon and validator helpers)

MiB = 1 << 20
MB = 1000 * 1000
UNIT = 16                  # bytes of one ring unit: a region begin or end
WRITERS = 8                # processes of the 8 MiB window, one thread each
RING = 1 * MiB
WINDOW = WRITERS * RING
LTTNG_SUBBUFS = 16        # per CPU; a snapshot holds all but one of them
WARMUP = 8                 # untimed snapshots after the first, before timing

_children = []             # every Popen we started; main() stops what is left
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def log(msg):
    print("daemon_bench: " + msg, file=sys.stderr, flush=True)


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv, env=None, stdout=subprocess.DEVNULL, stderr=None, stdin=subprocess.DEVNULL):
    """Popen that dies with us (PR_SET_PDEATHSIG), remembered for stop_all()."""
    p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr,
                         stdin=stdin, preexec_fn=_die_with_parent)
    _children.append(p)
    return p


def stop_all(procs, timeout=10):
    """SIGTERM to every live one, then SIGKILL whatever is left, by pid."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.monotonic() + timeout
    for p in live:
        try:
            p.wait(max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for p in procs:
        for f in (p.stdin, p.stdout):
            if f:
                f.close()


# ---- /proc ----

def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile, RssShmem (bytes) and context switches."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0]) * 1024
            elif k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                out[k] = int(v)
    return out


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rpartition(")")[2].split()
    return int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)


def sched_ns(pids):
    """CPU time and run-queue wait (ns) of every thread of pids, from
    /proc/PID/task/TID/schedstat; a thread that is gone counts 0."""
    run = wait = 0
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    a, b, _ = f.read().split()
            except (OSError, ValueError):
                continue
            run, wait = run + int(a), wait + int(b)
    return run, wait


def children_cpu_ns():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((ru.ru_utime + ru.ru_stime) * 1e9)


def pids_named(*names):
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/comm" % e) as f:
                    if f.read().strip() in names:
                        out.append(int(e))
            except OSError:
                pass
    return out


def reset_hwm(pid):
    """Sets VmHWM back to the current RSS (Linux >= 4.0); False if refused."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """Polls /proc/PID/status until stopped; keeps the peaks."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples = pid, {}, 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                st = proc_status(self.pid)
            except OSError:
                return
            for k, v in st.items():
                self.peak[k] = max(self.peak.get(k, 0), v)
            self.samples += 1
            time.sleep(0.001)

    def stop(self):
        self._halt.set()
        self.join()
        return self.peak


# ---- HTTP client: times to the last byte, then checks ----

def http_get(addr, path, timeout=120):
    """GET over TCP ((host, port)) or a unix socket (a path) with
    Connection: close. Returns (seconds to the last byte, status, body);
    a chunked body is decoded after the clock stopped."""
    fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    buf = bytearray(64 * MiB)
    mv = memoryview(buf)
    n = 0
    t0 = time.perf_counter()
    t1 = None
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(addr)
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                   % path).encode())
        while True:
            if n == len(buf):
                mv.release()  # a bytearray with a view on it cannot grow
                buf.extend(bytes(len(buf)))
                mv = memoryview(buf)
            got = s.recv_into(mv[n:])
            if got == 0:
                break
            n += got
            # With keep-alive ignored or not, the last chunk ends the body.
            # The clock stops at its last byte: checking that the body is
            # whole parses all of it (15 ms for 6.8 MB), which is ours.
            if buf[max(0, n - 5):n] == b"0\r\n\r\n":
                t1 = time.perf_counter()
                if _complete(buf, n):
                    break
                t1 = None  # a chunk's data that happened to end that way
        if t1 is None:
            t1 = time.perf_counter()
    finally:
        s.close()
    status, body = _parse(bytes(mv[:n]))
    return t1 - t0, status, body


def _complete(buf, n):
    try:
        _parse(bytes(buf[:n]))
        return True
    except ValueError:
        return False


def _parse(raw):
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no header end")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    hdr = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        hdr[k.strip().lower()] = v.strip()
    if hdr.get(b"transfer-encoding", b"").lower() != b"chunked":
        ln = int(hdr.get(b"content-length", len(rest)))
        if len(rest) < ln:
            raise ValueError("short body")
        return status, rest[:ln]
    out, i = [], 0
    while True:
        j = rest.find(b"\r\n", i)
        if j < 0:
            raise ValueError("cut chunk size")
        size = int(rest[i:j].split(b";")[0], 16)
        if size == 0:
            if rest[j:j + 4] != b"\r\n\r\n":
                raise ValueError("no end of chunks")
            return status, b"".join(out)
        if j + 2 + size + 2 > len(rest):
            raise ValueError("cut chunk")
        out.append(rest[j + 2:j + 2 + size])
        i = j + 2 + size + 2


def curl_get(url, out_path):
    """Runs curl as a user would; seconds for the command, seconds curl
    itself reports from its start of the transfer to the last byte
    (time_total), and bytes written."""
    t0 = time.perf_counter()
    r = subprocess.run(["curl", "-sS", "--fail", "-o", out_path, "-w", "%{time_total}", url],
                       capture_output=True)
    t1 = time.perf_counter()
    if r.returncode != 0:
        raise RuntimeError("curl: %s" % r.stderr.decode(errors="replace").strip())
    return t1 - t0, float(r.stdout), os.path.getsize(out_path)


# ---- flightrec side ----

def start_daemon(extra_config=""):
    """frtest's daemon (temporary config, sockets and log; extra_config as
    frtest.Daemon takes it), started as frtest.Daemon.start() does but
    through spawn(), so that it dies with us even when we are killed."""
    d = frtest.Daemon(extra_config)
    d.logf = open(d.log, "ab")
    d.proc = spawn([frtest.bin_path("flightrecd"), "--config", d.config], stdout=d.logf,
                   stderr=subprocess.STDOUT)
    try:
        frtest.wait_for(d._healthy, 10, "flightrecd /healthz")
    except AssertionError:
        d.cleanup()
        raise
    return d


def wait_registered(d, pids, timeout):
    """Polls /debug/flightrecorder/processes until every pid is live."""
    want = set(pids)

    def ok():
        live = {p["pid"] for p in d.processes() if p["state"] == "live"}
        return want <= live
    frtest.wait_for(ok, timeout, "%d processes registered" % len(want))


def start_writers(d, build, nprocs):
    """8 writer threads in nprocs bench-fillapp processes (8 or 1), rings
    filled twice."""
    env = d.env()
    env["FLIGHTREC_RING_BYTES"] = str(RING)
    events = 2 * RING // UNIT
    procs = []
    for i in range(nprocs):
        procs.append(spawn([frtest.bin_path("bench-fillapp"), "--name", "fill-%d" % i,
                            "--threads", str(WRITERS // nprocs), "--events", str(events),
                            "--then", "pause"],
                           env=env, stdout=subprocess.PIPE))
    for p in procs:
        line = p.stdout.readline().decode()
        if not line.startswith("ready "):
            raise RuntimeError("bench-fillapp said %r (exit %s)" % (line, p.poll()))
    wait_registered(d, [p.pid for p in procs], 20)
    return procs


# ---- LTTng side ----

class Lttng:
    """A snapshot session under a private LTTNG_HOME; see bench/lttng_session.c,
    which does the same for bench-hotpath."""

    def __init__(self, prefix="fr-dbench"):
        self.home = tempfile.mkdtemp(prefix=prefix + "-lttng-")
        self.env = dict(os.environ, LTTNG_HOME=self.home)
        self.session = "%s-%d" % (prefix, os.getpid())
        self.out = os.path.join(self.home, "snapshots")
        self.sessiond = 0
        self.made = False

    def run(self, *argv, check=True):
        r = subprocess.run(["lttng"] + list(argv), env=self.env, capture_output=True,
                           timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("lttng %s: %s" % (" ".join(argv), (r.stderr or r.stdout)
                                                 .decode(errors="replace").strip()))
        return r

    def start_sessiond(self):
        if shutil.which("lttng") is None or shutil.which("lttng-sessiond") is None:
            raise RuntimeError("lttng-tools not installed")
        if self.run("list", check=False).returncode == 0:
            return
        pidfile = os.path.join(self.home, "sessiond.pid")
        r = subprocess.run(["lttng-sessiond", "--daemonize", "--no-kernel",
                            "--pidfile=" + pidfile], env=self.env, capture_output=True,
                           timeout=60)
        try:
            with open(pidfile) as f:
                self.sessiond = int(f.read().strip() or 0)
        except OSError:
            pass
        if r.returncode != 0 or self.run("list", check=False).returncode != 0:
            raise RuntimeError("lttng-sessiond could not start")

    def setup(self, build, window, threads):
        """A snapshot session of one channel, per-UID overwrite buffers of
        `window` bytes in all (LTTNG_SUBBUFS sub-buffers per possible CPU),
        recording the fillapp's two events."""
        ncpu = possible_cpus()
        subbuf = window // ncpu // LTTNG_SUBBUFS
        if subbuf & (subbuf - 1) or subbuf < 4096:
            raise RuntimeError("window %d over %d CPUs is no power-of-two sub-buffer"
                               % (window, ncpu))
        self.run("create", self.session, "--snapshot", "-o", self.out)
        self.made = True
        self.run("enable-channel", "-u", "-s", self.session, "--buffers-uid", "--overwrite",
                 "--subbuf-size", str(subbuf), "--num-subbuf", str(LTTNG_SUBBUFS), "fill")
        self.run("enable-event", "-u", "-s", self.session, "-c", "fill",
                 "flightrec_bench:region_begin,flightrec_bench:region_end")
        self.run("start", self.session)
        # An LTTng event here is a 4-byte compact header and the name
        # ("handle_request" or "db.query", 15 or 9 bytes): 12 bytes is a
        # low guess, so each fill writes the buffers at least twice over.
        self.argv = [os.path.join(build, "bin", "bench-fillapp-lttng"), "--threads",
                     str(threads), "--events", str(2 * window // (12 * threads)),
                     "--then", "exit"]
        self.cpus, self.subbuf = ncpu, subbuf

    def fill(self):
        """Runs the writers to the end: per-UID buffers outlive them."""
        p = spawn(self.argv, env=self.env, stdout=subprocess.PIPE)
        line = p.stdout.readline().decode()
        p.stdout.close()
        if p.wait(60) != 0 or not line.startswith("ready "):
            raise RuntimeError("bench-fillapp-lttng said %r (exit %s)" % (line, p.poll()))

    def snapshot(self):
        """Fills the buffers again, then times one `lttng snapshot record`;
        returns (seconds, bytes on disk, CPU ns, run-queue wait ns). Each
        record switches every sub-buffer, so without new events the next
        one would hold a sub-buffer less per CPU: every record gets full
        buffers. CPU is the session and consumer daemons' and the client's."""
        self.fill()
        before = set(os.listdir(self.out)) if os.path.isdir(self.out) else set()
        daemons = pids_named("lttng-sessiond", "lttng-consumerd")
        r0, w0 = sched_ns(daemons)
        c0 = children_cpu_ns()
        t0 = time.perf_counter()
        self.run("snapshot", "record", "-s", self.session)
        t1 = time.perf_counter()
        r1, w1 = sched_ns(daemons)
        cpu = r1 - r0 + children_cpu_ns() - c0
        new = [e for e in os.listdir(self.out) if e not in before]
        size = sum(du(os.path.join(self.out, e)) for e in new)
        for e in new:
            shutil.rmtree(os.path.join(self.out, e), ignore_errors=True)
        return t1 - t0, size, cpu, w1 - w0

    def fini(self):
        if self.made:
            self.run("destroy", self.session, check=False)
        if self.sessiond > 0:
            try:
                with open("/proc/%d/comm" % self.sessiond) as f:
                    ours = f.read().startswith("lttng-sessiond")
            except OSError:
                ours = False
            if ours:
                os.kill(self.sessiond, signal.SIGTERM)
                for _ in range(500):
                    if not os.path.exists("/proc/%d" % self.sessiond):
                        break
                    time.sleep(0.01)
        shutil.rmtree(self.home, ignore_errors=True)


def possible_cpus():
    """LTTng allocates per-CPU buffers for every possible CPU."""
    n = 0
    with open("/sys/devices/system/cpu/possible") as f:
        for part in f.read().strip().split(","):
            a, _, b = part.partition("-")
            n += int(b or a) - int(a) + 1
    return n


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    return total


# ---- the measurements ----

class Table:
    def __init__(self):
        self.rows = []

    def add(self, what, fr, lt="", target="", status=""):
        self.rows.append((what, fr, lt, target, status))
        log("%s: %s%s" % (what, fr, (" | lttng " + lt) if lt else ""))

    def print(self, head):
        w = [max(len(r[i]) for r in self.rows + [("measurement", "flightrec", "LTTng",
                                                   "target", "status")]) for i in range(5)]
        print(head)
        fmt = "%-{0}s  %{1}s  %{2}s  %-{3}s  %s".format(*w[:4])
        print(fmt % ("measurement", "flightrec", "LTTng", "target", "status"))
        print(fmt % tuple("-" * x for x in w))
        for r in sorted(self.rows, key=lambda r: r[0][:1]):  # by section, stable
            print((fmt % r).rstrip())


def ms(s):
    return "%.1f ms" % (s * 1e3)


def mb(b):
    return "%.1f MB" % (b / MB)


def ok(cond):
    return "ok" if cond else "MISS"


def median_best(v):
    return statistics.median(v), min(v)


def spawn_time(argv, reps):
    """Median seconds to run a command that does nothing (process start)."""
    v = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True)
        v.append(time.perf_counter() - t0)
    return statistics.median(v)


def bench_window(t, build, reps, idle_seconds, use_lttng, nprocs):
    """The 8 MiB window in nprocs processes of 8 / nprocs threads; the
    idle rows only when idle_seconds is not 0."""
    d = start_daemon()
    lt, lt_why, writers = None, "", []
    target_peak = 2 * WINDOW + 10 * MB
    tag = "[%dx%d]" % (nprocs, WRITERS // nprocs)  # processes x threads each
    table = t

    class Tagged:
        """Rows of items 1 and 2 say which shape they measured."""
        def add(self, what, *rest):
            if what[:1] in "12":
                what = "%s %s %s" % (what[:1], tag, what[2:])
            table.add(what, *rest)
    t = Tagged()
    try:
        log("8 MiB window: %d bench-fillapp, %d writer thread(s) each, %d KiB rings filled twice"
            % (nprocs, WRITERS // nprocs, RING // 1024))
        writers += start_writers(d, build, nprocs)
        pid = d.proc.pid
        time.sleep(0.5)  # let the registration replies settle
        if idle_seconds:
            idle = proc_status(pid)
            own = idle["VmRSS"] - idle["RssShmem"]
            t.add("2 RSS idle, 8 writers, own (VmRSS-RssShmem)",
                  "%s (anon %s, file %s)" % (mb(own), mb(idle["RssAnon"]), mb(idle["RssFile"])),
                  "", "<= 10 MB", ok(own <= 10 * MB))
            t.add("2 RSS idle, mapped rings (RssShmem)", mb(idle["RssShmem"]), "", "", "-")

            log("idle CPU: %g s without requests" % idle_seconds)
            c0, s0 = cpu_ticks(pid), proc_status(pid)
            time.sleep(idle_seconds)
            c1, s1 = cpu_ticks(pid), proc_status(pid)
            sw = (s1["voluntary_ctxt_switches"] + s1["nonvoluntary_ctxt_switches"]
                  - s0["voluntary_ctxt_switches"] - s0["nonvoluntary_ctxt_switches"])
            t.add("3 CPU idle %g s (utime+stime; wakeups)" % idle_seconds,
                  "%d ticks (%d context switches)" % (c1 - c0, sw), "", "0 ticks", ok(c1 == c0))

        if use_lttng:
            try:
                lt = Lttng()
                lt.start_sessiond()
                lt.setup(build, WINDOW, WRITERS)
                log("lttng: per-UID buffers, %d CPUs x %d x %d KiB" % (lt.cpus, LTTNG_SUBBUFS,
                                                                       lt.subbuf // 1024))
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                lt_why = str(e)
                log("lttng: n/a (%s)" % lt_why)
                if lt:
                    lt.fini()
                lt = None

        # The first snapshot, memory sampled: a cold daemon (pool threads
        # start, every page of the decode buffers faults in).
        hwm_reset = reset_hwm(pid)
        sampler = RssSampler(pid)
        sampler.start()
        first, st, body = http_get(("127.0.0.1", d.port), "/debug/flightrecorder")
        peak = sampler.stop()
        after = proc_status(pid)
        if st != 200:
            raise RuntimeError("snapshot: HTTP %d %r" % (st, body[:200]))
        trace = frtest.Trace(body)
        nbeg = sum(1 for e in trace.events if e["type"] == frtest.SLICE_BEGIN)
        nthr = sum(1 for x in trace.tracks.values() if x["kind"] == "thread")
        log("first snapshot: %s, %d bytes, %d threads, %d slice begins; %d RSS samples"
            % (ms(first), len(body), nthr, nbeg, sampler.samples))
        if nthr != WRITERS or nbeg != WRITERS * RING // UNIT // 2:
            raise RuntimeError("the window is not 8 full rings: %d threads, %d begins"
                               % (nthr, nbeg))
        del trace, body
        hwm = after["VmHWM"] if hwm_reset else peak.get("VmRSS", 0)
        t.add("2 peak RSS, first snapshot (VmHWM)",
              "%s (shmem %s)" % (mb(hwm), mb(peak.get("RssShmem", 0))), "",
              "<= %s" % mb(target_peak), ok(hwm <= target_peak))
        own_peak = peak.get("VmRSS", 0) - after["RssShmem"]
        t.add("2 peak RSS, first snapshot, own (sampled)",
              "%s (anon %s)" % (mb(own_peak), mb(peak.get("RssAnon", 0))), "",
              "<= %s" % mb(target_peak), ok(own_peak <= target_peak))

        # Until each of libuv's pool threads has served a snapshot or two,
        # a snapshot also faults its decode buffers in (docs/performance.md):
        # time the steady state, the first one above shows the cold one.
        for _ in range(WARMUP):
            if http_get(("127.0.0.1", d.port), "/debug/flightrecorder")[1] != 200:
                raise RuntimeError("warm-up snapshot failed")
        log("timing %d snapshots of each kind%s" % (reps, ", with lttng" if lt else ""))
        tcp, uds, crl, crl_own, lts = [], [], [], [], []
        fr_cpu, fr_wait, lt_cpu, lt_wait = [], [], [], []
        lt_size = fr_size = 0
        tmp = tempfile.mkdtemp(prefix="fr-dbench-")
        try:
            for _ in range(reps):
                r0, w0 = sched_ns([pid])
                s, st, body = http_get(("127.0.0.1", d.port), "/debug/flightrecorder")
                r1, w1 = sched_ns([pid])
                if st != 200:
                    raise RuntimeError("snapshot: HTTP %d" % st)
                tcp.append(s)
                fr_cpu.append(r1 - r0)
                fr_wait.append(w1 - w0)
                fr_size = len(body)
                s, st, body = http_get(d.http_sock, "/debug/flightrecorder")
                if st != 200 or len(body) != fr_size:
                    raise RuntimeError("unix socket snapshot: HTTP %d, %d bytes" % (st,
                                                                                   len(body)))
                uds.append(s)
                s, own, _ = curl_get("http://127.0.0.1:%d/debug/flightrecorder" % d.port,
                                     os.path.join(tmp, "snap.pftrace"))
                crl.append(s)
                crl_own.append(own)
                if lt:
                    s, lt_size, c, w = lt.snapshot()
                    lts.append(s)
                    lt_cpu.append(c)
                    lt_wait.append(w)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        end = proc_status(pid)
        for what, v in (("tcp", tcp), ("unix", uds), ("curl", crl), ("curl time_total", crl_own),
                        ("lttng", lts)):
            log("%s samples, ms: %s" % (what, " ".join("%.1f" % (x * 1e3) for x in v)))

        lt_med = statistics.median(lts) if lts else None
        lt_cell = "%s / %s" % tuple(ms(x) for x in median_best(lts)) if lts else "n/a"

        def row(what, v):
            m, b = median_best(v)
            t.add(what, "%s / %s" % (ms(m), ms(b)), lt_cell, "<= LTTng",
                  ok(m <= lt_med) if lts else "-")
        row("1 snapshot 8 MiB, TCP client, med / best", tcp)
        row("1 snapshot 8 MiB, unix client, med / best", uds)
        row("1 snapshot 8 MiB, curl -o file, med / best", crl)
        row("1 snapshot 8 MiB, curl's time_total, med / best", crl_own)
        t.add("1 CPU per snapshot, median (run-queue wait)",
              "%s (%s)" % (ms(statistics.median(fr_cpu) / 1e9),
                           ms(statistics.median(fr_wait) / 1e9)),
              "%s (%s)" % (ms(statistics.median(lt_cpu) / 1e9),
                           ms(statistics.median(lt_wait) / 1e9)) if lts else "n/a",
              "", "-")
        t.add("1 snapshot 8 MiB, first (cold daemon)", ms(first), "", "", "-")
        cs = spawn_time(["curl", "--version"], reps)
        ls = spawn_time(["lttng", "--version"], reps) if lts else None
        t.add("1 command start alone (--version), median", ms(cs), ms(ls) if lts else "n/a",
              "", "-")
        t.add("1 snapshot size (Perfetto | CTF on disk)", "%s (%d B)" % (mb(fr_size), fr_size),
              "%s (%d B)" % (mb(lt_size), lt_size) if lts else "n/a", "", "-")
        own_end = end["VmRSS"] - end["RssShmem"]
        t.add("2 RSS after %d snapshots, own" % (3 * reps + 1 + WARMUP),
              "%s (anon %s)" % (mb(own_end), mb(end["RssAnon"])), "",
              "<= %s" % mb(target_peak), ok(own_end <= target_peak))
        if use_lttng and not lts:
            t.add("1 lttng", "", "n/a (%s)" % lt_why, "", "-")
    finally:
        if lt:
            lt.fini()
        stop_all(writers)
        d.cleanup()


def bench_many(t, nprocs, threads=4, regions=20):
    d = start_daemon()
    procs = []
    try:
        env = d.env()
        env["FLIGHTREC_RING_BYTES"] = "16k"
        log("%d fr-testapp x %d threads, 16 KiB rings" % (nprocs, threads))
        t0 = time.perf_counter()
        for i in range(nprocs):
            procs.append(spawn([frtest.bin_path("fr-testapp"), "--name", "many-%d" % i,
                                "--threads", str(threads), "--regions", str(regions),
                                "--then", "pause"], env=env))
        t_spawned = time.perf_counter() - t0
        wait_registered(d, [p.pid for p in procs], 120)
        t_reg = time.perf_counter() - t0
        log("all registered %.2f s after the first spawn, %.2f s after the last"
            % (t_reg, t_reg - t_spawned))
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError("%d fr-testapp exited early" % len(dead))
        t.add("4 %d procs x %d threads: all registered" % (nprocs, threads),
              "%.2f s (last spawn +%.2f s)" % (t_reg, t_reg - t_spawned), "", "", "-")
        st = proc_status(d.proc.pid)
        nfd = len(os.listdir("/proc/%d/fd" % d.proc.pid))
        t.add("4 RSS own / shmem, fds, %d procs" % nprocs,
              "%s / %s, %d fds" % (mb(st["VmRSS"] - st["RssShmem"]), mb(st["RssShmem"]), nfd),
              "", "", "-")
        r0, _ = sched_ns([d.proc.pid])
        secs, code, body = http_get(("127.0.0.1", d.port), "/debug/flightrecorder")
        r1, _ = sched_ns([d.proc.pid])
        if code != 200:
            raise RuntimeError("snapshot of %d: HTTP %d %r" % (nprocs, code, body[:200]))
        trace = frtest.Trace(body)
        nproc_tr = len(trace.processes())
        nthr = sum(1 for x in trace.tracks.values() if x["kind"] == "thread")
        t.add("4 snapshot of all %d procs: time (CPU)" % nprocs,
              "%s (%s)" % (ms(secs), ms((r1 - r0) / 1e9)), "", "", "-")
        t.add("4 snapshot of all %d procs: size, contents" % nprocs,
              "%s, %d procs, %d threads" % (mb(len(body)), nproc_tr, nthr), "", "all in it",
              ok(nproc_tr == nprocs and nthr == nprocs * threads))
        try:
            c0 = time.perf_counter()
            res = frtest.check_perfetto(body, strict=False)
            cs = time.perf_counter() - c0
            verdict = ("n/a (no %s)" % frtest.CHECK_PERFETTO) if res is None else \
                "passes (%.0f s)" % cs
            good = res is not None
        except AssertionError as e:
            verdict, good = "FAILS: %s" % str(e).splitlines()[0], False
        t.add("4 check-perfetto (non-strict) of it", verdict, "", "passes",
              ok(good) if "n/a" not in verdict else "-")
    finally:
        stop_all(procs)
        d.cleanup()


def bench_encode(t, build):
    r = subprocess.run([os.path.join(build, "bin", "bench-encode")], capture_output=True,
                       timeout=120)
    out = r.stdout.decode()
    for line in out.splitlines():
        m = re.match(r"(perfetto|json)\s+(regions|mixed)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)M", line)
        if not m:
            continue
        enc, inp, best_ns, med_ns, best_meps = m.groups()
        rate = float(best_meps)
        is_pf = enc == "perfetto"
        t.add("5 encode %s, %s, best (median)" % (enc, inp),
              "%.1f M ev/s, %s ns (%s ns)" % (rate, best_ns, med_ns), "",
              ">= 40 M ev/s" if is_pf else "", ok(rate >= 40) if is_pf else "-")
    if r.returncode != 0:
        raise RuntimeError("bench-encode exit %d: %s" % (r.returncode, r.stderr.decode()))


def machine(load0):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    rev = subprocess.run(["git", "-C", SOURCE, "rev-parse", "--short", "HEAD"],
                         capture_output=True).stdout.decode().strip() or "?"
    lt = subprocess.run(["lttng", "--version"], capture_output=True) if shutil.which("lttng") \
        else None
    ltv = lt.stdout.decode().split(" - ")[0].strip() if lt and lt.returncode == 0 else "none"
    return ("machine: %s, %d CPUs online, load average %.2f at start, %.2f at end\n"
            "flightrec %s (source tree), %s" % (model, os.cpu_count(), load0,
                                                os.getloadavg()[0], rev, ltv))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--reps", type=int, default=11, help="timed snapshots of each kind")
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--procs", type=int, default=500)
    ap.add_argument("--no-lttng", action="store_true")
    ap.add_argument("--shapes", default="8,1",
                    help="window part: the 8 writer threads in 8 processes, 1, or both")
    ap.add_argument("--parts", default="window,many,encode",
                    help="which of window (1-3), many (4), encode (5) to run")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    frtest.BUILD = build
    for b in ("flightrecd", "bench-fillapp", "fr-testapp", "bench-encode"):
        if not os.access(frtest.bin_path(b), os.X_OK):
            sys.exit("daemon_bench: %s is not built in %s" % (b, build))
    use_lttng = not a.no_lttng and os.access(frtest.bin_path("bench-fillapp-lttng"), os.X_OK)

    # flightrecd keeps a descriptor per registered process and raises its
    # soft limit to the hard one it inherits from us: make both enough
    # (the hard one only as root), with room for our own.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * a.procs + 256
    if soft < need or hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log("open-file limit %d, below the %d wanted: %d processes may not all register"
                % (hard, need, a.procs))
    # Ctrl-C and SIGTERM unwind through the finally blocks.
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))

    t = Table()
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    failed = []
    try:
        shapes = [int(x) for x in a.shapes.split(",")]
        if any(n not in (1, 2, 4, 8) for n in shapes):
            sys.exit("daemon_bench: --shapes takes 1, 2, 4 or 8 processes")

        def window():
            for k, n in enumerate(shapes):
                bench_window(t, build, a.reps, a.idle_seconds if k == 0 else 0, use_lttng, n)
        for name, fn in (("window", window),
                         ("many", lambda: bench_many(t, a.procs)),
                         ("encode", lambda: bench_encode(t, build))):
            if name not in a.parts.split(","):
                continue
            try:
                fn()
            except (RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as e:
                log("%s: could not be measured: %s" % (name, e))
                failed.append(name)
    finally:
        stop_all(_children)
    t.print("flightrecd benchmark, one run of %.0f s\n%s\n" % (time.monotonic() - t0,
                                                             machine(load0)))
    if failed:
        print("not measured: %s (see stderr)" % ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
