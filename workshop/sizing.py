"""What each participant costs right now: memory and CPU of every process a user runs (as root).

    sudo python3 workshop/sizing.py ada grace          # these users
    sudo python3 workshop/sizing.py --users FILE       # everyone on the list

For each user: how many processes, the sum of their RSS (what each process has resident,
shared libraries counted in every process) and of their PSS (shared pages divided among
the processes that share them: sums of PSS add up to what the machine really holds), and
the CPU seconds they used (utime + stime, children reaped included). Where the user's
server runs in a systemd unit (SystemdSpawner), the unit's cgroup v2 figures too:
memory.current, memory.peak (the high-water mark: size for it) and cpu.stat's usage.
workshop/README.md ("Sizing") says how the figures there were taken with it.

Man pages: proc(5) (/proc/PID/smaps_rollup, /proc/PID/stat), systemd.resource-control(5).
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the checkout: minictr's procfs reads /proc
from minictr import procfs  # noqa: E402  (after the path above)

UNIT_CGROUP = "/sys/fs/cgroup/system.slice/jupyter-{name}-singleuser.service"



def memory_kb(pid: int, proc: str = "/proc") -> tuple[int, int]:
    """(RSS, PSS) in kB from smaps_rollup; (0, 0) for a process gone or a kernel thread."""
    rss = pss = 0
    try:
        with open(f"{proc}/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return rss, pss


def cpu_seconds(pid: int, proc: str = "/proc") -> float:
    """utime + stime + cutime + cstime (fields 14-17 of /proc/PID/stat), in seconds."""
    try:
        with open(f"{proc}/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def unit_figures(name: str) -> dict[str, int]:
    """The user's unit's cgroup v2 figures (bytes, microseconds), where there is one."""
    top = UNIT_CGROUP.format(name=name)
    found = {}
    for key in ("memory.current", "memory.peak"):
        try:
            with open(os.path.join(top, key)) as f:
                found[key] = int(f.read())
        except (OSError, ValueError):
            pass
    try:
        with open(os.path.join(top, "cpu.stat")) as f:
            for line in f:
                if line.startswith("usage_usec"):
                    found["cpu usage_usec"] = int(line.split()[1])
    except OSError:
        pass
    return found


def measure(name: str) -> dict:
    uid = pwd.getpwnam(name).pw_uid
    pids = procfs.pids_of_user(uid)
    rss = pss = 0
    cpu = 0.0
    for pid in pids:
        r, p = memory_kb(pid)
        rss, pss, cpu = rss + r, pss + p, cpu + cpu_seconds(pid)
    return {"user": name, "processes": len(pids), "rss_mib": rss / 1024, "pss_mib": pss / 1024,
            "cpu_s": cpu, **unit_figures(name)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--users", help="the user list (workshop/roster.py)")
    args = ap.parse_args(argv)
    names = list(args.names)
    if args.users:
        sys.path.insert(0, HERE)
        import roster
        names += [p.name for p in roster.read(args.users)]
    print(f"{'user':20} {'procs':>5} {'RSS MiB':>8} {'PSS MiB':>8} {'CPU s':>7}  unit cgroup (v2)")
    for name in names:
        try:
            m = measure(name)
        except KeyError:
            print(f"{name:20} no such user")
            continue
        unit = "  ".join(f"{k} {v / 2**20:.0f} MiB" if k.startswith("memory") else f"cpu {v / 1e6:.1f} s"
                         for k, v in m.items() if k.startswith(("memory", "cpu ")))
        print(f"{name:20} {m['processes']:5} {m['rss_mib']:8.0f} {m['pss_mib']:8.0f} {m['cpu_s']:7.1f}  {unit or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
