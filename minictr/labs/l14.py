"""Lesson 14 (the OCI runtime spec: minictr under podman): docker flags as config.json fields.

One exercise:

- ``14.to_oci``: ``def to_oci(flag: str, value: str) -> dict`` turns one
  docker/podman flag into the config.json fields it sets, as a dict from a
  dotted path (``"linux.resources.memory.limit"``) to the value. The
  reference is ``to_oci`` here. The checks diagnose the usual mistakes:
  memory in MiB or in powers of ten instead of bytes, ``--cpus`` as a quota
  without its period (or as shares, or in milliseconds), a capability name
  without ``CAP_`` or in lower case, the dropped capability still in the
  set, and numbers given as strings.

And a tool the notebook and the podman tests share: ``logging_runtime``,
a wrapper that podman (or anyone) can call in place of an OCI runtime: it
appends each call's argv to a log, keeps a copy of each ``config.json``
and ``--process`` file it is handed, then ``exec``s the real runtime.

The quizzes' answer keys live here (``QUIZZES``), not in the notebook.

Man pages: capabilities(7), cgroups(7) (memory.limit_in_bytes,
cpu.cfs_quota_us, cpu.cfs_period_us, pids.max); runtime-spec's config.md,
config-linux.md and runtime.md; runc(8), podman-run(1).
"""

from __future__ import annotations

import os
import shlex

from ..security.capabilities import DEFAULT as DEFAULT_CAPS
from .kit import Case, CaseFailed, Exercise, register
from .lesson import Lesson

__all__ = ["LESSON", "QUIZZES", "WRAPPER", "logging_runtime", "to_oci", "parse_bytes", "CPU_PERIOD",
           "stop_leftovers", "runtime_command"]

LESSON = Lesson("14", "The OCI runtime spec: minictr under podman", needs_root=True,
                tools=("podman", "conmon", "runc"),
                namespaces=("mnt", "uts", "ipc", "net", "pid"), controllers=("memory", "pids"))

#: docker's (and podman's) CFS period for --cpus, in microseconds: 100 ms.
CPU_PERIOD = 100_000

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_bytes(text: str) -> int:
    """docker's memory sizes: ``64m`` = 64 MiB = 67108864 bytes; units b, k, m, g are powers of 1024."""
    text = text.strip().lower()
    unit = text[-1] if text and text[-1] in _UNITS else ""
    number = text[: len(text) - len(unit)] if unit else text
    return int(float(number) * _UNITS[unit])


def _cap(name: str) -> str:
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def to_oci(flag: str, value: str) -> dict:
    """The config.json fields one docker flag sets, keyed by dotted path (the reference answer).

    ``--cap-drop``/``--cap-add`` change docker's default set; the bounding set is the one shown
    (the effective and permitted sets are the same list for root)."""
    if flag == "--memory":
        return {"linux.resources.memory.limit": parse_bytes(value)}
    if flag == "--cpus":
        return {"linux.resources.cpu.quota": round(float(value) * CPU_PERIOD),
                "linux.resources.cpu.period": CPU_PERIOD}
    if flag == "--pids-limit":
        return {"linux.resources.pids.limit": int(value)}
    if flag == "--cap-drop":
        return {"process.capabilities.bounding": [c for c in DEFAULT_CAPS if c != _cap(value)]}
    if flag == "--cap-add":
        return {"process.capabilities.bounding": [*DEFAULT_CAPS, _cap(value)]}
    if flag == "--read-only":
        return {"root.readonly": True}
    if flag == "--hostname":
        return {"hostname": value}
    if flag == "--workdir":
        return {"process.cwd": value}
    if flag == "--user":
        uid, _, gid = value.partition(":")
        return {"process.user.uid": int(uid), "process.user.gid": int(gid or 0)}
    raise ValueError(f"to_oci: no mapping for {flag}")


# -- the checks ------------------------------------------------------------------------------

_CAP_SETS = ("process.capabilities.bounding", "process.capabilities.effective", "process.capabilities.permitted")


def _ask(fn, flag: str, value: str) -> dict:
    got = fn(flag, value)
    if not isinstance(got, dict):
        raise CaseFailed(f"to_oci({flag!r}, {value!r}) returned {type(got).__name__}: return a dict such as "
                         "{'linux.resources.pids.limit': 50}")
    for key in got:
        if not isinstance(key, str) or "/" in key:
            raise CaseFailed(f"to_oci({flag!r}, {value!r}): the key {key!r} is not a dotted path such as "
                             "'linux.resources.memory.limit'")
    return got


def _field(got: dict, key: str, flag: str, value: str):
    if key in got:
        return got[key]
    near = [k for k in got if k.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]]
    where = f" (you wrote {near[0]!r})" if near else ""
    raise CaseFailed(f"{flag} {value}: config.json's field is {key}{where}")


def _number(x, key: str, flag: str, value: str) -> int:
    if isinstance(x, str):
        raise CaseFailed(f"{flag} {value}: {key} is a JSON number, not the string {x!r}")
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise CaseFailed(f"{flag} {value}: {key} is a number, not {type(x).__name__}")
    return x


def _memory(fn, value: str) -> None:
    key = "linux.resources.memory.limit"
    want = parse_bytes(value)
    got = _number(_field(_ask(fn, "--memory", value), key, "--memory", value), key, "--memory", value)
    if got == want:
        return
    digits = float(value[:-1]) if value[-1].isalpha() else float(value)
    if got == digits:
        raise CaseFailed(f"--memory {value}: {got} is the number you typed; config.json wants bytes "
                         f"({want}), as memory.limit_in_bytes does")
    decimal = digits * {"k": 10**3, "m": 10**6, "g": 10**9}.get(value[-1].lower(), 1)
    if got == decimal:
        raise CaseFailed(f"--memory {value}: {got} counts in powers of ten; docker's k, m and g are KiB, MiB "
                         f"and GiB (1024-based): {want}")
    raise CaseFailed(f"--memory {value}: {key} is {got}, not {want} bytes")


def _cpus(fn, value: str) -> None:
    got = _ask(fn, "--cpus", value)
    if "linux.resources.cpu.shares" in got and "linux.resources.cpu.quota" not in got:
        raise CaseFailed(f"--cpus {value} is a hard cap, the CFS quota per period; shares are a relative "
                         "weight under contention (that is --cpu-shares)")
    quota = _number(_field(got, "linux.resources.cpu.quota", "--cpus", value), "quota", "--cpus", value)
    if "linux.resources.cpu.period" not in got:
        raise CaseFailed(f"--cpus {value}: a quota means nothing without its period: set "
                         f"linux.resources.cpu.period too (docker's is {CPU_PERIOD} µs)")
    period = _number(got["linux.resources.cpu.period"], "period", "--cpus", value)
    want_quota = round(float(value) * CPU_PERIOD)
    if quota == float(value):
        raise CaseFailed(f"--cpus {value}: the quota is microseconds of CPU time per period, not a number "
                         f"of CPUs: {value} x {CPU_PERIOD} µs = {want_quota}")
    if period and abs(quota / period - float(value)) < 1e-9 and period != CPU_PERIOD:
        unit = " (that is 100 ms in milliseconds: the fields are in µs)" if period == 100 else ""
        raise CaseFailed(f"--cpus {value}: the right ratio, but docker's period is {CPU_PERIOD} µs{unit}; "
                         "the kernel refuses periods under 1000 µs")
    if (quota, period) != (want_quota, CPU_PERIOD):
        raise CaseFailed(f"--cpus {value}: quota {quota} per period {period}, want {want_quota} per {CPU_PERIOD}")


def _caps(fn, flag: str, value: str) -> None:
    got = _ask(fn, flag, value)
    want = to_oci(flag, value)["process.capabilities.bounding"]
    caps = _field(got, "process.capabilities.bounding", flag, value)
    if not isinstance(caps, (list, tuple)) or not all(isinstance(c, str) for c in caps):
        raise CaseFailed(f"{flag} {value}: the capability sets are lists of names, such as ['CAP_CHOWN', ...]")
    short = [c for c in caps if not c.startswith("CAP_") and not c.upper().startswith("CAP_")]
    if short:
        raise CaseFailed(f"{flag} {value}: config.json names capabilities in full, with the CAP_ prefix: "
                         f"{short[0]!r} should be {_cap(short[0])!r}")
    lower = [c for c in caps if c != c.upper()]
    if lower:
        raise CaseFailed(f"{flag} {value}: capability names are upper case in config.json: {lower[0]!r} "
                         f"should be {lower[0].upper()!r} (docker accepts any case on its command line)")
    if flag == "--cap-drop" and set(caps) == {_cap(value)}:
        raise CaseFailed(f"--cap-drop {value}: the set lists what is kept (docker's 14 defaults minus "
                         f"{_cap(value)}), not what is dropped")
    if flag == "--cap-drop" and _cap(value) in caps:
        raise CaseFailed(f"--cap-drop {value}: {_cap(value)} is still in the set: the set lists what the "
                         "process keeps")
    if flag == "--cap-add" and set(caps) == {_cap(value)}:
        raise CaseFailed(f"--cap-add {value}: the set replaces the default: it is docker's 14 defaults plus "
                         f"{_cap(value)}, not {_cap(value)} alone")
    if sorted(set(caps)) != sorted(want):
        missing, extra = sorted(set(want) - set(caps)), sorted(set(caps) - set(want))
        raise CaseFailed(f"{flag} {value}: the bounding set misses {missing or '-'} and has {extra or '-'} "
                         "too many (start from docker's default 14)")
    for other in _CAP_SETS[1:]:
        if other in got and sorted(set(got[other])) != sorted(want):
            raise CaseFailed(f"{flag} {value}: {other} differs from the bounding set: for root, docker "
                             "gives the same list to bounding, effective and permitted")


def _simple(fn, flag: str, value: str) -> None:
    got = _ask(fn, flag, value)
    for key, want in to_oci(flag, value).items():
        have = _field(got, key, flag, value)
        if isinstance(want, int) and not isinstance(want, bool):
            _number(have, key, flag, value)
        if have != want or type(have) is not type(want):
            raise CaseFailed(f"{flag} {value}: {key} should be {want!r}, not {have!r}")


def _cases() -> list[Case]:
    def each(body, *args_list):
        def check(fn):
            for args in args_list:
                body(fn, *args)
        return check

    return [
        Case("--memory 64m, 1g and 512k: linux.resources.memory.limit in bytes",
             each(lambda fn, v: _memory(fn, v), ("64m",), ("1g",), ("512k",))),
        Case("--cpus 1.5 and 0.5: the CFS quota per a 100000 µs period",
             each(lambda fn, v: _cpus(fn, v), ("1.5",), ("0.5",))),
        Case("--pids-limit 50: linux.resources.pids.limit, a number",
             each(lambda fn, v: _simple(fn, "--pids-limit", v), ("50",))),
        Case("--cap-drop net_raw and CAP_CHOWN: docker's default set minus one, names in full",
             each(lambda fn, v: _caps(fn, "--cap-drop", v), ("net_raw",), ("CAP_CHOWN",))),
        Case("--cap-add sys_admin: docker's default set plus one",
             each(lambda fn, v: _caps(fn, "--cap-add", v), ("sys_admin",))),
        Case("--read-only, --hostname, --workdir and --user 1000:100",
             each(lambda fn, f, v: _simple(fn, f, v), ("--read-only", ""), ("--hostname", "box"),
                  ("--workdir", "/srv"), ("--user", "1000:100"))),
    ]


register(Exercise(
    id="14.to_oci", title="docker flags as config.json fields",
    function="to_oci", signature="def to_oci(flag: str, value: str) -> dict",
    cases=_cases,
    reference=lambda: to_oci,
))


# -- a logging runtime: what podman really calls ------------------------------------------------

WRAPPER = """#!/bin/sh
# A logging OCI runtime (minictr lesson 14): note the call, keep the files it names, then
# hand the call to the real runtime with exec (same pid, same stdio, same fds for conmon).
log={log}
n=1
[ -f "$log/calls.log" ] && n=$(( $(wc -l < "$log/calls.log") + 1 ))
printf '%s\\n' "$*" >> "$log/calls.log"
prev=
for arg in "$@"; do
    case "$prev" in
        --bundle|-b) cp "$arg/config.json" "$log/$n-config.json" 2>/dev/null ;;
        --process|-p) cp "$arg" "$log/$n-process.json" 2>/dev/null ;;
    esac
    case "$arg" in
        --bundle=*) cp "${{arg#--bundle=}}/config.json" "$log/$n-config.json" 2>/dev/null ;;
        --process=*) cp "${{arg#--process=}}" "$log/$n-process.json" 2>/dev/null ;;
    esac
    prev=$arg
done
exec {runtime} "$@"
"""


def logging_runtime(path: str, runtime: list[str] | str, log_dir: str) -> str:
    """Write an executable at ``path`` that logs each call to ``log_dir/calls.log`` (one line of
    argv per call), copies the ``config.json`` of a ``--bundle`` to ``log_dir/N-config.json`` and
    a ``--process`` file to ``log_dir/N-process.json`` (N = the call's line), then execs
    ``runtime`` (an argv prefix: the runtime and any global flags of its own). Returns ``path``."""
    argv = [runtime] if isinstance(runtime, str) else list(runtime)
    os.makedirs(log_dir, exist_ok=True)
    with open(path, "w") as f:
        f.write(WRAPPER.format(log=shlex.quote(log_dir), runtime=shlex.join(argv)))
    os.chmod(path, 0o755)
    return path


def runtime_command(where: str) -> str:
    """minictr-runtime as one executable that podman can call: the venv's console script next to
    this interpreter, or else (an older set-up) a two-line script in ``where`` that runs
    ``python -m minictr.oci`` with this checkout on ``PYTHONPATH``. podman runs its runtime with
    an almost empty environment, so the script must not rely on the caller's."""
    import sys

    script = os.path.join(os.path.dirname(sys.executable), "minictr-runtime")
    if os.path.exists(script):
        return script
    path = os.path.join(where, "minictr-runtime")
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexport PYTHONPATH={shlex.quote(checkout)}\n"
                f"exec {shlex.quote(sys.executable)} -m minictr.oci \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def stop_leftovers() -> int:
    """Before ``leftovers.clean("14")``: in the temp dirs of an earlier run of the notebook that
    no kernel uses any more, delete the runtime's containers (``WORK/state``, forcing) and
    podman's (``WORK/podman``), whose processes would outlive their directory. Returns how many."""
    import subprocess
    import sys
    import time

    from .leftovers import _dir_in_use, temp_dirs

    runtime = [sys.executable, "-m", "minictr.oci"]

    n = 0
    for work in temp_dirs("14"):
        if _dir_in_use(work, time.time()):
            continue
        state = os.path.join(work, "state")
        ids = []
        if os.path.isdir(state):
            ids = subprocess.run([*runtime, "--root", state, "list", "-q"], capture_output=True, text=True).stdout.split()
        for cid in ids:
            n += subprocess.run([*runtime, "--root", state, "delete", "--force", cid],
                                capture_output=True).returncode == 0
        if os.path.isdir(os.path.join(work, "podman")):
            r = subprocess.run(["podman", "--root", os.path.join(work, "podman"), "--runroot",
                                os.path.join(work, "podman-run"), "--storage-driver", "vfs", "rm", "-af", "-t", "0"],
                               capture_output=True, text=True,
                               env={**os.environ, "CONTAINERS_CONF": os.path.join(work, "containers.conf")})
            n += len(r.stdout.split())
    return n


# -- the quizzes: answer keys kept out of the notebook --------------------------------------

QUIZZES = {
    "14.states": {
        "question": "`minictr-runtime state box` says `created`. Which operations does the runtime spec "
                    "allow now? (tick all that apply)",
        "right": {
            "start: run the user's program, once":
                "start is only for a created container; the process waits at the exec of process.args "
                "until then.",
            "kill: send a signal to the container's process":
                "kill is allowed while created or running; a created container killed with SIGKILL "
                "becomes stopped without ever running the program.",
        },
        "wrong": {
            "delete, without --force":
                "delete is for stopped containers; runc's and minictr's delete --force kill first.",
            "create again with the same id":
                "ids are unique per runtime root: the second create fails until the first is deleted.",
        },
        "multiple": True,
        "hint": "runtime.md's lifecycle: which operations name the status 'created'?",
    },
    "14.conmon": {
        "question": "`podman run -d` returns, and `minictr-runtime start` has exited long ago. Who waits "
                    "for the container's process and writes its exit code?",
        "right": {
            "conmon, podman's small monitor, a parent of each container":
                "conmon starts the runtime's create, stays as the subreaper of the container's process, "
                "keeps its stdio for podman logs, and writes the exit code to a file podman reads.",
        },
        "wrong": {
            "the runtime: minictr-runtime stays in the background":
                "An OCI runtime's commands all return: create returns once the container waits at its "
                "exec, start once it is let go. Someone else must outlive them.",
            "podman itself, as a daemon":
                "podman has no daemon: the command exits after run -d.",
            "nobody: the kernel keeps the exit code in the state file":
                "The kernel gives an exit status only to a waiting parent (or subreaper); files are "
                "written by whoever waits.",
        },
        "hint": "podman has no daemon, and the runtime's commands return. What process is left?",
    },
    "14.stack": {
        "question": "A Kubernetes pod starts on a node with containerd. Which chain of calls starts its "
                    "container's process?",
        "right": {
            "kubelet -> CRI (gRPC) -> containerd -> containerd-shim -> runc create/start":
                "The kubelet speaks the Container Runtime Interface; containerd (or CRI-O) pulls the "
                "image, writes the bundle and its config.json, and a shim runs the OCI runtime, as "
                "conmon does for podman and CRI-O.",
        },
        "wrong": {
            "kubelet -> docker run":
                "Kubernetes dropped dockershim in 1.24: the kubelet talks CRI to containerd or CRI-O.",
            "kubelet -> runc directly":
                "The kubelet has no image store and no bundles: that is the CRI runtime's job.",
            "containerd -> kubelet -> runc":
                "The kubelet is the caller at the top: it asks the CRI runtime for pods and containers.",
        },
        "hint": "who pulls images and writes config.json, and who runs runc?",
    },
}
