"""Reading processes from /proc: memory, CPU time, process trees, and the machine's load.

Everything here reads; nothing signals or changes a process.
"""

import os
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (index 0 = state)."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    return text.rsplit(")", 1)[1].split()


def status_kb(pid, field):
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM, …), or None."""
    text = _read(f"/proc/{pid}/status")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def rss_kb(pid):
    return status_kb(pid, "VmRSS")


def hwm_kb(pid):
    """Peak resident set of the process over its life."""
    return status_kb(pid, "VmHWM")


def pss_kb(pid):
    """Proportional set size: shared pages divided among the processes sharing them."""
    text = _read(f"/proc/{pid}/smaps_rollup")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid, children=False):
    """User + system CPU time of a process (plus its reaped children's with `children`)."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    ticks = int(f[11]) + int(f[12])
    if children:
        ticks += int(f[13]) + int(f[14])
    return ticks / CLK_TCK


def parents():
    """pid -> ppid for every process."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            f = _stat_fields(name)
            if f is not None:
                out[int(name)] = int(f[1])
    return out


def descendants(root):
    """Every live descendant of `root` (not `root` itself)."""
    children = {}
    for pid, ppid in parents().items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def tree_memory(root, with_pss=False):
    """Processes under `root` and their summed RSS (and PSS) in kB."""
    pids = descendants(root)
    out = {"processes": len(pids), "rss_kb": sum(rss_kb(p) or 0 for p in pids)}
    if with_pss:
        out["pss_kb"] = sum(pss_kb(p) or 0 for p in pids)
        names = {}
        for p in pids:
            name = (_read(f"/proc/{p}/comm") or "?").strip()
            names[name] = names.get(name, 0) + 1
        out["by_name"] = names
    return out


def tree_cpu(root):
    """CPU seconds of `root` (with its reaped children) and its live descendants."""
    return cpu_seconds(root, children=True) + sum(cpu_seconds(p) for p in descendants(root))


def system_jiffies():
    """(busy, total) jiffies summed over all CPUs, from /proc/stat."""
    fields = [int(x) for x in _read("/proc/stat").splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # up to steal; guest time is already in user
    return total - idle, total


class Condition:
    """How busy the machine was during a measurement, and how much of that was ours.

    `ours` is filled in by the caller (CPU seconds of the server tree and the load generator);
    whatever else the machine did in the window is `other` load, in percent of one vCPU.
    """

    def __init__(self, pinned=False):
        self.pinned = pinned
        self.t0 = time.monotonic()
        self.busy0, self.total0 = system_jiffies()

    def finish(self, ours_cpu_s):
        wall = time.monotonic() - self.t0
        busy1, total1 = system_jiffies()
        busy = (busy1 - self.busy0) / CLK_TCK
        other = max(0.0, busy - ours_cpu_s)
        other_pct = 100.0 * other / wall if wall > 0 else 0.0
        label = "pinned" if self.pinned else "unpinned"
        label += ", idle" if other_pct < 10 else f", busy (other load {other_pct:.0f}% of a vCPU)"
        return {
            "wall_s": round(wall, 3),
            "machine_busy_pct": round(100.0 * busy / wall, 1) if wall > 0 else 0.0,
            "ours_cpu_pct": round(100.0 * ours_cpu_s / wall, 1) if wall > 0 else 0.0,
            "other_load_pct": round(other_pct, 1),
            "label": label,
        }


class TreeSampler:
    """Samples the memory of a process tree in a thread; keeps the peak."""

    def __init__(self, root, interval=0.5):
        self.root, self.interval = root, interval
        self.peak = {"processes": 0, "rss_kb": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            m = tree_memory(self.root)
            if m["rss_kb"] > self.peak["rss_kb"]:
                self.peak = m
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
