"""Exercises for the notebooks: check cases kept in the package, and a fallback.

A notebook's exercise cell has the learner write one function; the next cell
calls::

    decode = check("01.decode_status", decode)

``check`` runs the exercise's cases against the learner's function and prints
(deterministic text, so strict nbval can compare it) which case failed and why.
If every case passes it returns the learner's function; otherwise, or if the
function is missing or still raises ``NotImplementedError``, it says so and
returns minictr's own reference, so the rest of the notebook still runs. The
notebooks are committed unsolved and CI runs them that way.

The registry::

    Exercise(id="02.member_filter", title=..., function="member_filter",
             signature="def member_filter(member, dest) -> bool",
             cases=<function returning [Case, ...]>, reference=<function returning the reference>)

``register(Exercise(...))`` adds one (later lessons do); ``solution_cases(id)``
returns its cases; ``run_checks(id, fn)`` returns the outcome as data without
printing. Each ``Case.run(fn)`` raises ``CaseFailed(why)`` when the answer is
wrong; any other exception escaping it is the learner's function failing.

Cases that need the kernel (a chroot, namespaces, a pivot_root trace) run the
learner's function in a *forked child*, never in the notebook's own kernel
process: an ``unshare`` or a ``chroot`` there would change the kernel for good
(the rule for every notebook: namespace work happens in a forked child).

The lesson texts hold written solutions in fenced blocks whose info string is
``python solution=ID``; tests/unit/test_lesson_solutions.py runs each of them
against its exercise, so they cannot rot.

Man pages: wait(2), chroot(2), pivot_root(2), mount_namespaces(7), namespaces(7).
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import MinictrError, UnsafeLayerEntry

__all__ = [
    "Case", "CaseFailed", "Exercise", "Outcome", "Result", "check", "register", "get", "ids",
    "solution_cases", "run_checks", "require_root", "has_root", "run_chrooted", "trace_pivot",
    "format_call", "PIVOT_NEW_ROOT",
]


class CaseFailed(Exception):
    """A check case found a wrong answer. ``str()`` says which and why, in one line."""


@dataclass(frozen=True)
class Case:
    """One check: ``run(fn)`` returns when ``fn`` is right, raises ``CaseFailed`` when not."""

    name: str
    run: Callable[[Callable], None]


@dataclass(frozen=True)
class Exercise:
    """An exercise: what the learner writes, how it is checked, and minictr's own answer."""

    id: str
    title: str
    function: str                             # the name the learner's function has
    signature: str                            # shown in messages
    cases: Callable[[], list[Case]]           # built lazily: cases may need a corpus or the kernel
    reference: Callable[[], Callable]         # imported lazily: the real minictr code
    needs_root: bool = False


@dataclass(frozen=True)
class Outcome:
    case: str
    passed: bool
    why: str = ""


@dataclass
class Result:
    """What ``run_checks`` found. ``passed`` only when every case passed."""

    exercise: Exercise
    outcomes: list[Outcome] = field(default_factory=list)
    not_written: bool = False          # None, or raised NotImplementedError
    skipped_no_root: bool = False      # the cases need root and we are not

    @property
    def passed(self) -> bool:
        return not (self.not_written or self.skipped_no_root) and all(o.passed for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]


_REGISTRY: dict[str, Exercise] = {}
_MAX_SHOWN = 8  # failures printed by check(); run_checks() has them all


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (a later one with the same id replaces it)."""
    _REGISTRY[exercise.id] = exercise
    return exercise


def _load_lesson(exercise_id: str) -> None:
    """Exercises of later lessons live in ``minictr/labs/lNN.py``, registered when first asked for."""
    import importlib

    lesson = exercise_id.split(".", 1)[0]
    if lesson.isdigit():
        try:
            importlib.import_module(f"minictr.labs.l{lesson}")
        except ModuleNotFoundError as e:
            if e.name != f"minictr.labs.l{lesson}":
                raise


def get(exercise_id: str) -> Exercise:
    if exercise_id not in _REGISTRY:
        _load_lesson(exercise_id)
    try:
        return _REGISTRY[exercise_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise MinictrError(f"no exercise {exercise_id!r}", hint=f"known exercises: {known}") from None


def ids() -> list[str]:
    """Every exercise id, the later lessons' (minictr/labs/) included."""
    import pkgutil

    from . import labs
    for mod in pkgutil.iter_modules(labs.__path__):
        _load_lesson(mod.name[1:] + ".")
    return sorted(_REGISTRY)


def solution_cases(exercise_id: str) -> list[Case]:
    """The check cases of one exercise (what ``check`` runs)."""
    return get(exercise_id).cases()


def has_root() -> bool:
    """Root with CAP_SYS_ADMIN: what namespaces, mount, chroot and pivot_root need."""
    return os.geteuid() == 0 and _cap_sys_admin()


def _cap_sys_admin(status_path: str = "/proc/self/status") -> bool:
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 21))  # CAP_SYS_ADMIN is bit 21
    except OSError:
        pass
    return False


def require_root(what: str = "this notebook", *, status_path: str = "/proc/self/status") -> bool:
    """The probe cell at the top of a notebook: print whether the experiments can run.

    Returns True when they can. Prints one line when all is well, and an
    explanation with the fixes when not (it never raises: the learner can
    still read the notebook).
    """
    euid = os.geteuid()
    if euid == 0 and _cap_sys_admin(status_path):
        print(f"ok: running as root with CAP_SYS_ADMIN, so the experiments in {what} can run.")
        return True
    if euid != 0:
        why = f"this kernel runs as uid {euid}, not root"
    else:
        why = "this kernel runs as root but without CAP_SYS_ADMIN (inside an unprivileged container?)"
    print(f"needs root: {what} creates namespaces, mounts and chroots, which need root and CAP_SYS_ADMIN;")
    print(f"  {why}.")
    print("How to fix it, pick one:")
    print("  - as root on a Linux machine or VM: `make lab` (it serves JupyterLab as root on 127.0.0.1);")
    print("  - with sudo: `make lab-kernel` once, then choose the kernel 'minictr (root via sudo)';")
    print("  - in JupyterHub, Binder or a docker container without --privileged: use the lab VM instead.")
    print("Run `python -m minictr doctor` for the full list of what this machine can do.")
    return False


def run_checks(exercise_id: str, learner_fn: Callable | None) -> Result:
    """Run every case of an exercise against ``learner_fn`` and return what happened. Prints nothing."""
    ex = get(exercise_id)
    result = Result(ex)
    if learner_fn is None:
        result.not_written = True
        return result
    if ex.needs_root and not has_root():
        result.skipped_no_root = True
        return result
    for case in ex.cases():
        try:
            case.run(learner_fn)
        except NotImplementedError:
            result.not_written = True
            result.outcomes.clear()
            return result
        except CaseFailed as e:
            result.outcomes.append(Outcome(case.name, False, str(e)))
        except Exception as e:  # the learner's function itself failed
            result.outcomes.append(Outcome(case.name, False, f"your function raised {_exc_line(e)}"))
        else:
            result.outcomes.append(Outcome(case.name, True))
    return result


def check(exercise_id: str, learner_fn: Callable | None = None) -> Callable:
    """Check the learner's function; return it if it passes, else minictr's reference.

    Prints what happened in a few deterministic lines.
    """
    result = run_checks(exercise_id, learner_fn)
    ex = result.exercise
    tag = f"[{ex.id}]"
    if result.passed:
        print(f"{tag} all {len(result.outcomes)} checks passed: using your {ex.function}.")
        return learner_fn
    ref = ex.reference()
    ref_name = f"{ref.__module__}.{ref.__qualname__}"
    if learner_fn is None:
        print(f"{tag} no function given: using the reference {ref_name}.")
    elif result.not_written:
        print(f"{tag} {ex.function} is not written yet (it raises NotImplementedError).")
        print(f"Using the reference {ref_name} instead, so the rest of the notebook runs.")
    elif result.skipped_no_root:
        print(f"{tag} these checks need root (see the probe cell at the top); your {ex.function} was not checked.")
        print(f"Using the reference {ref_name} instead.")
    else:
        failed = result.failures
        print(f"{tag} {len(failed)} of {len(result.outcomes)} checks failed:")
        for o in failed[:_MAX_SHOWN]:
            print(f"  x {o.case}: {o.why}")
        if len(failed) > _MAX_SHOWN:
            print(f"  ... and {len(failed) - _MAX_SHOWN} more (run_checks({ex.id!r}, fn).failures lists them all)")
        print(f"Using the reference {ref_name} instead. Fix {ex.function} and run its cell and this one again.")
    return ref


def _exc_line(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _import(module: str, name: str) -> Callable:
    import importlib

    return getattr(importlib.import_module(module), name)


# -- running a function in a forked child ------------------------------------------------

class _ChildFailed(Exception):
    pass


def _in_child(body: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    """Run ``body()`` in a forked child and return its JSON-able result.

    The child never returns into the caller's code: it writes one JSON
    document to a pipe and leaves with ``os._exit``, whatever happens. Its
    exceptions come back as data: NotImplementedError is raised again here,
    anything else as CaseFailed naming the exception.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(r)
            try:
                payload = {"ok": body()}
            except BaseException as e:  # report everything, even SystemExit, to the parent
                payload = {"error": type(e).__name__, "message": _exc_line(e)}
            data = json.dumps(payload).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise CaseFailed(f"your function did not finish within {timeout:g} seconds")
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    if not chunks:
        raise CaseFailed("the child running your function died without an answer")
    payload = json.loads(b"".join(chunks))
    if "error" in payload:
        if payload["error"] == "NotImplementedError":
            raise NotImplementedError
        raise CaseFailed(f"your function raised {payload['message']}")
    return payload["ok"]


def _private_mount_namespace() -> None:
    """In a forked child: a mount namespace of its own, with nothing propagating back to the host."""
    from .syscalls import CloneFlags, MountFlags, linux

    sys_ = linux()
    sys_.unshare(CloneFlags.NEWNS)
    # Why: / is usually a shared mount; without MS_PRIVATE our mounts would show up on the host.
    sys_.mount(None, "/", None, MountFlags.REC | MountFlags.PRIVATE)


# -- 00.ns_differences ---------------------------------------------------------------------

class _ChildInNamespaces:
    """A forked child that unshares ``flags`` and waits; leaving the ``with`` lets it exit and reaps it."""

    def __init__(self, flags: int):
        self.flags = flags
        self.pid = -1

    def __enter__(self) -> int:
        ready_r, ready_w = os.pipe()
        self._hold_r, self._hold_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(ready_r)
                os.close(self._hold_w)
                from .syscalls import linux

                linux().unshare(self.flags)
                os.write(ready_w, b"1")
                os.read(self._hold_r, 1)  # blocks until the parent closes its end
            finally:
                os._exit(0)
        os.close(ready_w)
        os.close(self._hold_r)
        self.pid = pid
        ok = os.read(ready_r, 1)
        os.close(ready_r)
        if ok != b"1":
            self.__exit__()
            raise MinictrError("the helper child could not unshare its namespaces", hint="needs root")
        return pid

    def __exit__(self, *exc) -> None:
        os.close(self._hold_w)
        os.waitpid(self.pid, 0)


def _ns_cases() -> list[Case]:
    from .syscalls import CloneFlags

    def truth(a, b) -> set[str]:
        kinds = set(os.listdir(f"/proc/{a}/ns")) & set(os.listdir(f"/proc/{b}/ns"))
        return {k for k in kinds if os.readlink(f"/proc/{a}/ns/{k}") != os.readlink(f"/proc/{b}/ns/{k}")}

    def compare(fn, a, b, label):
        got = fn(a, b)
        want = truth(a, b)
        if not isinstance(got, (set, frozenset)):
            raise CaseFailed(f"returned {type(got).__name__}, expected a set of kinds like {{'uts'}}")
        if set(got) != want:
            raise CaseFailed(f"{label}: returned {sorted(got)}, expected {sorted(want)}")

    def same(fn):
        me = os.getpid()
        compare(fn, me, me, "a process against itself")

    def with_child(flags, label):
        def run(fn):
            with _ChildInNamespaces(flags) as pid:
                compare(fn, os.getpid(), pid, label)
                compare(fn, pid, os.getpid(), label + " (arguments swapped)")
        return run

    cases = [Case("a process against itself", same)]
    if has_root():
        cases.append(Case("a child in new uts and ipc namespaces",
                          with_child(CloneFlags.NEWUTS | CloneFlags.NEWIPC, "uts+ipc child")))
        cases.append(Case("a child in new net, mount and uts namespaces",
                          with_child(CloneFlags.NEWNET | CloneFlags.NEWNS | CloneFlags.NEWUTS,
                                     "net+mnt+uts child")))
    return cases


# -- 01.decode_status ----------------------------------------------------------------------

def _status_cases() -> list[Case]:
    def real_status(how: str) -> int:
        pid = os.fork()
        if pid == 0:
            if how == "exit3":
                os._exit(3)
            os.kill(os.getpid(), signal.SIGKILL)
            os._exit(99)  # never reached
        return os.waitpid(pid, 0)[1]

    def expect(status: int) -> int:
        code = os.waitstatus_to_exitcode(status)
        return code if code >= 0 else 128 - code

    def case(name: str, status_fn: Callable[[], int], why: str) -> Case:
        def run(fn):
            status = status_fn()
            got = fn(status)
            want = expect(status)
            if got != want:
                raise CaseFailed(f"decode({status:#06x}) returned {got!r}, expected {want}: {why}")
        return Case(name, run)

    return [
        case("exit(0)", lambda: 0x0000, "the child exited with 0, in bits 8-15"),
        case("exit(1)", lambda: 0x0100, "the exit code is in bits 8-15"),
        case("exit(42)", lambda: 0x2A00, "the exit code is in bits 8-15"),
        case("exit(255)", lambda: 0xFF00, "the exit code is in bits 8-15"),
        case("killed by SIGKILL", lambda: 0x0009, "killed by signal 9: the convention is 128+9"),
        case("killed by SIGTERM", lambda: 0x000F, "killed by signal 15: the convention is 128+15"),
        case("killed by SIGINT", lambda: 0x0002, "killed by signal 2 (Ctrl-C): 128+2"),
        case("SIGSEGV with a core dump", lambda: 0x008B,
             "signal 11, and bit 7 (0x80) says a core was dumped: it is not part of the signal"),
        case("a real child that called _exit(3)", lambda: real_status("exit3"), "the child exited with 3"),
        case("a real child killed by SIGKILL", lambda: real_status("kill"), "killed by signal 9"),
    ]


# -- 02.member_filter ----------------------------------------------------------------------

def _tar_bytes(entries: list[tuple[Any, bytes | None]]) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, payload in entries:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def _benign_tarballs() -> list[tuple[str, bytes, str, str]]:
    """Honest tarballs: every member must be kept, and device nodes skipped."""
    import tarfile

    def info(name, kind=tarfile.REGTYPE, *, size=0, mode=0o644, link="", dev=(0, 0)):
        t = tarfile.TarInfo(name)
        t.type, t.size, t.mode, t.linkname = kind, size, mode, link
        t.devmajor, t.devminor = dev
        return t

    hello = b"hello\n"
    rootfs = _tar_bytes([
        (info("bin", tarfile.DIRTYPE, mode=0o755), None),
        (info("bin/busybox", size=len(hello), mode=0o755), hello),
        (info("bin/sh", tarfile.SYMTYPE, link="busybox"), None),
        (info("bin/ls", tarfile.SYMTYPE, link="/bin/busybox"), None),
        (info("bin/su", size=len(hello), mode=0o4755), hello),
        (info("etc", tarfile.DIRTYPE, mode=0o755), None),
        (info("etc/passwd", size=len(hello)), hello),
        (info("etc/passwd.hard", tarfile.LNKTYPE, link="etc/passwd"), None),
        (info("etc/mtab", tarfile.SYMTYPE, link="../proc/self/mounts"), None),
        (info("tmp", tarfile.DIRTYPE, mode=0o1777), None),
        (info("tmp/fifo", tarfile.FIFOTYPE), None),
    ])
    devices = _tar_bytes([
        (info("dev", tarfile.DIRTYPE, mode=0o755), None),
        (info("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)), None),
        (info("dev/sda", tarfile.BLKTYPE, mode=0o660, dev=(8, 0)), None),
        (info("dev/README", size=len(hello)), hello),
    ])
    return [
        ("benign: a small rootfs (dirs, setuid file, symlinks, hard link, fifo)", rootfs, "keep",
         "an honest image: keep every member"),
        ("benign: device nodes are skipped", devices, "keep",
         "device nodes are skipped (False); /dev is made fresh at run time"),
    ]


def _member_cases() -> list[Case]:
    """One case per tarball of minictr.tarcorpus (the flat-rootfs ones), plus two honest ones.

    Each member is handed to the learner's filter in order, with ``dest``
    holding what minictr's safe extractor made of the members kept so far (so
    the filter can look at symlinks already there). Nothing the learner keeps
    is ever written by anything but ``minictr.tarball.extract``.

    - "refuse": the filter must raise UnsafeLayerEntry on some member;
    - "contain": the extractor keeps it inside, so any member may be kept, and
      refusing is accepted too (strict, but safe); skipping is not;
    - "keep" (the honest tarballs): every member kept, device nodes skipped.
    """
    from . import tarcorpus

    names = [c.name for c in tarcorpus.build("/nonexistent/sentinel") if c.whiteouts == "keep"]
    cases = [Case(f"corpus: {n}", _member_run(n)) for n in names]
    cases += [Case(name, _member_run(name, (data, expect, why))) for name, data, expect, why in _benign_tarballs()]
    return cases


def _member_run(corpus_name: str, given: tuple[bytes, str, str] | None = None) -> Callable[[Callable], None]:
    def run(fn):
        import tarfile

        from . import tarball, tarcorpus

        work = tempfile.mkdtemp(prefix="minictr-ex02-")
        try:
            _dest, sentinel = tarcorpus.prepare(work)
            if given is None:
                case = next(c for c in tarcorpus.build(sentinel) if c.name == corpus_name)
                data, expect, why = case.data, case.expect, case.why
            else:
                data, expect, why = given

            def say(text: str) -> str:  # no temporary paths in what the notebook prints
                return (text.replace(work + "/root", "DEST").replace(work, "HOST")
                        .replace(work.lstrip("/"), "HOST"))

            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]
            kept: list = []
            for m, payload in members:
                dest, _ = tarcorpus.prepare(work)  # a fresh dest, with the kept members extracted again
                if kept:
                    try:
                        tarball.extract(io.BytesIO(_tar_bytes(kept)), str(dest))
                    except UnsafeLayerEntry:
                        raise CaseFailed(say(f"you kept {kept[-1][0].name!r}, but this tarball must be "
                                             f"refused: {why}")) from None
                try:
                    verdict = fn(_copy_info(m), str(dest))
                except UnsafeLayerEntry as e:
                    if expect == "keep":
                        raise CaseFailed(say(f"you refused the honest member {m.name!r} ({e.message})")) from None
                    return  # right for "refuse"; strict but safe for "contain"
                except (NotImplementedError, CaseFailed):
                    raise
                except Exception as e:
                    raise CaseFailed(say(f"your function raised {_exc_line(e)} for {m.name!r}; raise "
                                         "minictr.errors.UnsafeLayerEntry to refuse a member")) from None
                if verdict is not True and verdict is not False:
                    raise CaseFailed(say(f"returned {verdict!r} for {m.name!r}: return True (keep) or False "
                                         "(skip), or raise UnsafeLayerEntry (refuse)"))
                device = m.ischr() or m.isblk()  # TarInfo.isdev() is true for a FIFO too
                if m.isfifo():
                    pass  # a FIFO is harmless: keeping or skipping it are both fine
                elif device and verdict:
                    raise CaseFailed(say(f"you kept the device node {m.name!r}: return False for device nodes, "
                                         "/dev is made fresh at run time"))
                elif not device and not verdict:
                    if expect == "refuse":
                        raise CaseFailed(say(f"you skipped {m.name!r}, but the whole tarball must be refused "
                                             f"(raise UnsafeLayerEntry): {why}"))
                    raise CaseFailed(say(f"you skipped {m.name!r}, a harmless {_kind(m)}: only device nodes "
                                         "are skipped"))
                if verdict:
                    kept.append((m, payload))
            if expect == "refuse":
                raise CaseFailed(say(f"you kept every member, but this tarball must be refused: {why}"))
        finally:
            _rmtree(work)
    return run


def _kind(m) -> str:
    return ("directory" if m.isdir() else "symlink" if m.issym() else "hard link" if m.islnk()
            else "fifo" if m.isfifo() else "device node" if m.isdev() else "file")


def _copy_info(m):
    import copy

    return copy.copy(m)


def _rmtree(path: str) -> None:
    import shutil

    # Make read-only directories writable first (a 0555 dir from a tarball cannot be emptied).
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    shutil.rmtree(path)


# -- 03.breakout ---------------------------------------------------------------------------

def run_chrooted(fn: Callable[[], Any], *, depth: int = 0, cwd: str = "/", timeout: float = 10.0) -> Any:
    """Call ``fn()`` in a forked child chrooted into a small throwaway rootfs; return its result.

    The child is root, in a mount namespace of its own (like a ``--no-pivot``
    container), its root is ``depth`` directories below a temporary directory,
    and its working directory is ``cwd`` inside the chroot. The result must be
    JSON-able (a list of names is). Import what ``fn`` needs *before* calling:
    inside the chroot there is no Python library to import from.
    """
    base = tempfile.mkdtemp(prefix="minictr-chroot-")
    try:
        rootfs = os.path.join(base, *(f"d{i}" for i in range(depth)), "rootfs")
        for d in ("bin", "etc", "tmp", "you-are-in-the-chroot"):
            os.makedirs(os.path.join(rootfs, d))

        def body():
            _private_mount_namespace()
            os.chroot(rootfs)
            os.chdir(cwd)
            return fn()

        return _in_child(body, timeout=timeout)
    finally:
        _rmtree(base)


def _breakout_cases() -> list[Case]:
    def make(name: str, depth: int) -> Case:
        def run(fn):
            got = run_chrooted(fn, depth=depth)
            want = sorted(os.listdir("/"))
            if not isinstance(got, list):
                raise CaseFailed(f"returned {type(got).__name__}, expected sorted(os.listdir('/'))")
            if "you-are-in-the-chroot" in got:
                raise CaseFailed("you listed the chroot's own / (it has 'you-are-in-the-chroot'): "
                                 "the escape did not work; climb with os.chdir('..') from outside the root")
            if got != want:
                raise CaseFailed(f"returned {got[:6]}..., not the host's / (sorted(os.listdir('/')))")
        return Case(name, run)

    return [
        make("escape a chroot just below /tmp", 0),
        make("escape a chroot 30 directories deep", 30),
    ]


# -- 04.pivot_sequence ---------------------------------------------------------------------

#: The new root the 04 check hands to the learner's ``enter_root``. Nothing is made there:
#: the syscalls are recorded by a FakeSyscalls and the os calls by stand-ins.
PIVOT_NEW_ROOT = "/var/lib/minictr/containers/demo/rootfs"
_PIVOT_START_CWD = "/root"
_RECORDED_OS_CALLS = ("chdir", "mkdir", "makedirs", "rmdir", "chroot")


def trace_pivot(fn: Callable, new_root: str = PIVOT_NEW_ROOT, *, timeout: float = 10.0) -> list[tuple[str, tuple]]:
    """Call ``fn(fake_syscalls, new_root)`` in a forked child and return every call it made.

    Syscalls go to a ``FakeSyscalls``; ``os.chdir``, ``os.mkdir``,
    ``os.makedirs``, ``os.rmdir`` and ``os.chroot`` are replaced by recorders,
    so nothing changes on the machine. If we are root, the child first gets a
    private mount namespace of its own, so that even a real syscall made by
    mistake cannot touch the host's mounts.
    """
    def body():
        if has_root():
            _private_mount_namespace()
        from .syscalls import FakeSyscalls

        fake = FakeSyscalls()
        for name in _RECORDED_OS_CALLS:
            setattr(os, name, (lambda n: lambda *a, **k: fake.calls.append((n, a)))(name))
        fn(fake, new_root)
        return [[name, list(args)] for name, args in fake.calls]

    return [(name, tuple(args)) for name, args in _in_child(body, timeout=timeout)]


def format_call(call: tuple[str, tuple]) -> str:
    """``mount(None, '/', None, MS_REC|MS_PRIVATE, None)``: a recorded call as the man page spells it."""
    from .syscalls import UmountFlags, flag_names

    name, args = call
    parts = [repr(a) for a in args]
    if name == "mount" and len(args) >= 4:
        parts[3] = flag_names(int(args[3]))
    if name == "umount2" and len(args) >= 2:
        parts[1] = flag_names(int(args[1]), UmountFlags, "MNT_")
    return f"{name}({', '.join(parts)})"


@dataclass
class _PivotTrace:
    """What a recorded pivot sequence did, worked out by replaying the paths."""

    calls: list
    new_root: str
    private_first: bool = False
    bind_before_pivot: bool = False
    pivots: list = field(default_factory=list)       # (new_root resolved, put_old resolved)
    made_dirs: set = field(default_factory=set)
    old_location: str | None = None                  # where the old root sits after pivot_root
    old_unmounted: bool = False
    umount_without_detach: bool = False
    cwd: str = _PIVOT_START_CWD
    cwd_in_old_root: bool = False


def _analyse_pivot(calls: list, new_root: str) -> _PivotTrace:
    from .syscalls import MountFlags, UmountFlags

    t = _PivotTrace(calls, os.path.normpath(new_root))
    mounts_seen = 0
    pivoted = False

    def resolve(p: str) -> str:
        return os.path.normpath(os.path.join(t.cwd, p))

    def under(p: str, top: str) -> bool:
        return p == top or p.startswith(top.rstrip("/") + "/")

    for name, args in calls:
        if name == "mount":
            source, target, _fstype, flags = args[0], args[1], args[2], int(args[3])
            if mounts_seen == 0 and resolve(target) == "/" and flags & MountFlags.REC and \
                    flags & (MountFlags.PRIVATE | MountFlags.SLAVE):
                t.private_first = True
            mounts_seen += 1
            if not pivoted and flags & MountFlags.BIND and source is not None and \
                    resolve(source) == t.new_root and resolve(target) == t.new_root:
                t.bind_before_pivot = True
        elif name in ("mkdir", "makedirs") and not pivoted:
            t.made_dirs.add(resolve(args[0]))
        elif name == "pivot_root":
            a, b = resolve(args[0]), resolve(args[1])
            t.pivots.append((a, b))
            if len(t.pivots) == 1 and a == t.new_root and under(b, a):
                pivoted = True
                t.old_location = "/" + os.path.relpath(b, a) if b != a else "/"
                t.old_location = os.path.normpath(t.old_location)
                if under(t.cwd, a):
                    t.cwd = os.path.normpath("/" + os.path.relpath(t.cwd, a))
                elif t.cwd == "/":
                    t.cwd = "/"  # pivot_root(2) moves a cwd that is the old root to the new root
                else:
                    t.cwd = os.path.normpath(os.path.join(t.old_location, t.cwd.lstrip("/")))
                    t.cwd_in_old_root = True
        elif name == "umount2" and pivoted:
            target, flags = resolve(args[0]), int(args[1]) if len(args) > 1 else 0
            if target == t.old_location:
                if flags & UmountFlags.DETACH:
                    t.old_unmounted = True
                else:
                    t.umount_without_detach = True
        elif name == "chdir":
            t.cwd = resolve(args[0])
            if pivoted:
                t.cwd_in_old_root = t.old_location != "/" and under(t.cwd, t.old_location)
        elif name == "chroot":
            pass
    return t


def _pivot_cases() -> list[Case]:
    cache: dict[int, _PivotTrace] = {}

    def trace(fn) -> _PivotTrace:
        if id(fn) not in cache:
            cache[id(fn)] = _analyse_pivot(trace_pivot(fn), PIVOT_NEW_ROOT)
        return cache[id(fn)]

    def listing(t: _PivotTrace) -> str:
        return "; ".join(format_call(c) for c in t.calls) or "no calls at all"

    def private(fn):
        t = trace(fn)
        if not t.private_first:
            raise CaseFailed("the first mount must make every mount private: mount(None, '/', None, "
                             "MS_REC|MS_PRIVATE); otherwise the mounts that follow propagate to the host, "
                             f"and pivot_root fails with EINVAL on a shared /. Your calls: {listing(t)}")

    def bind(fn):
        t = trace(fn)
        if not t.bind_before_pivot:
            raise CaseFailed("before pivot_root, bind-mount new_root onto itself: mount(new_root, new_root, "
                             "None, MS_BIND|MS_REC); pivot_root needs new_root to be a mount point")

    def pivot(fn):
        t = trace(fn)
        if len(t.pivots) != 1:
            raise CaseFailed(f"call pivot_root exactly once (you called it {len(t.pivots)} times)")
        a, b = t.pivots[0]
        if a != t.new_root:
            raise CaseFailed(f"pivot_root's first argument resolves to {a!r}, not to new_root {t.new_root!r}")
        if t.old_location is None:
            raise CaseFailed(f"put_old resolves to {b!r}, which is not new_root or a directory below it")
        if b != a and b not in t.made_dirs:
            raise CaseFailed(f"put_old {b!r} must exist: os.mkdir it first (or use pivot_root('.', '.') "
                             "after os.chdir(new_root))")

    def unmount(fn):
        t = trace(fn)
        if t.old_location is None:
            raise CaseFailed("there is no old root to unmount: pivot_root did not happen (see the case above)")
        if t.umount_without_detach:
            raise CaseFailed(f"umount2({t.old_location!r}) without MNT_DETACH fails with EBUSY while "
                             "anything uses the old root: pass MNT_DETACH")
        if not t.old_unmounted:
            raise CaseFailed(f"after pivot_root the old root is at {t.old_location!r} (seen from the new "
                             "root): unmount it with umount2(that path, MNT_DETACH), or the host stays visible")

    def cwd(fn):
        t = trace(fn)
        if t.old_location is None:
            raise CaseFailed("pivot_root did not happen (see the cases above)")
        if t.cwd_in_old_root:
            raise CaseFailed(f"the working directory ends in the old root ({t.cwd!r}), which is gone: "
                             "os.chdir('/') after pivot_root")

    return [
        Case("make / private (MS_REC|MS_PRIVATE) before any other mount", private),
        Case("bind-mount new_root onto itself before pivot_root", bind),
        Case("pivot_root into new_root, with put_old inside it", pivot),
        Case("unmount the old root with MNT_DETACH", unmount),
        Case("the working directory ends inside the new root", cwd),
    ]


# -- the registry -------------------------------------------------------------------------------

register(Exercise(
    id="00.ns_differences", title="Compare the namespaces of two processes",
    function="ns_differences", signature="def ns_differences(pid_a, pid_b) -> set[str]",
    cases=_ns_cases,
    reference=lambda: _import("minictr.reference", "ns_differences"),
))
register(Exercise(
    id="01.decode_status", title="Decode a wait status into an exit code",
    function="decode", signature="def decode(status: int) -> int",
    cases=_status_cases,
    reference=lambda: _import("minictr.process", "exit_status"),
))
register(Exercise(
    id="02.member_filter", title="Write the tar member filter",
    function="member_filter", signature="def member_filter(member: tarfile.TarInfo, dest: str) -> bool",
    cases=_member_cases,
    reference=lambda: _import("minictr.reference", "member_filter"),
))
register(Exercise(
    id="03.breakout", title="Break out of a chroot",
    function="breakout", signature="def breakout() -> list[str]",
    cases=_breakout_cases,
    reference=lambda: _import("minictr.reference", "breakout"),
    needs_root=True,
))
register(Exercise(
    id="04.pivot_sequence", title="Write the pivot_root sequence",
    function="enter_root", signature="def enter_root(sys: Syscalls, new_root: str) -> None",
    cases=_pivot_cases,
    reference=lambda: _import("minictr.reference", "enter_root"),
))
