"""Lesson 15 (user namespaces and rootless containers): uid and gid maps; a rootless range.

Two exercises:

- ``15.write_maps``: ``def write_maps(pid, uid, gid, proc="/proc") -> None``,
  run by an *ordinary user* while its child ``pid`` waits in a user namespace
  of its own: make that child root inside, and ``uid``/``gid`` outside
  (``/proc/PID/uid_map``, ``"deny"`` to ``/proc/PID/setgroups``, then
  ``/proc/PID/gid_map``). The checks first hand it a directory of plain files
  as ``proc`` to see what it writes (fields swapped, a range where one id is
  allowed, the uid in the gid map, setgroups not denied, the writer's own
  ``/proc/self``), then run it for real as uid 1234 against a child in a new
  user namespace (gid_map before setgroups, a map written twice), and look
  inside: the child is uid 0, and what it creates is owned by 1234 outside.
- ``15.rootless_map``: ``def rootless_map(uid, start, count) -> str``, the
  uid_map of a rootless container as podman asks ``newuidmap`` for it:
  container root is the user's own uid, container ids 1 to ``count`` are the
  user's subordinate range from ``/etc/subuid``. The checks catch fields
  swapped, overlapping ranges (the kernel's EINVAL), root mapped into the
  subordinate range, a range one short, and a hard-coded answer; then root
  (who may write any map) writes it into a real child, and a file made by
  container uid 1000 must belong to host uid ``start + 999``.

The notebook's experiments and these checks use the kit's ``become`` (drop to
an ordinary uid in a forked child) and ``userns_pair`` (a child that unshares
CLONE_NEWUSER and waits while its parent writes its maps).

The quizzes' answer keys live here (``QUIZZES``), not in the notebook.

Man pages: user_namespaces(7) (uid_map, gid_map, setgroups, the rules for an
unprivileged writer), newuidmap(1), newgidmap(1), subuid(5), subgid(5),
capabilities(7), unshare(2), setresuid(2), prctl(2) (PR_SET_DUMPABLE).
"""

from __future__ import annotations

import errno
import os

from .kit import (Case, CaseFailed, Exercise, attempt, become, exc_line, in_child, reachable_mkdtemp, register,
                  userns_pair)
from .lesson import Lesson

__all__ = ["LESSON", "QUIZZES", "LEARNER_UID", "LEARNER_GID", "become", "userns_pair", "write_maps",
           "rootless_map", "parse_map", "attempt"]

LESSON = Lesson("15", "User namespaces and rootless containers", needs_root=True,
                tools=("newuidmap", "newgidmap", "ip"), namespaces=("user", "uts", "mnt", "net"),
                filesystems=("overlay",))

#: The ordinary user the experiments and checks drop to (a laptop's first user is usually 1000).
LEARNER_UID, LEARNER_GID = 1234, 2345


def parse_map(text: str) -> list[tuple[int, int, int]]:
    """The lines of a uid_map or gid_map as (inside, outside, count) triples; ValueError if not numbers."""
    triples = []
    for line in text.splitlines():
        if line.strip():
            fields = [int(f) for f in line.split()]
            if len(fields) != 3:
                raise ValueError(f"{line.strip()!r} has {len(fields)} fields, not 3")
            triples.append((fields[0], fields[1], fields[2]))
    return triples


# -- exercise 1: the maps of a child, written by an ordinary user -----------------------------

def write_maps(pid: int, uid: int, gid: int, proc: str = "/proc") -> None:
    """minictr's answer: root inside is ``uid``/``gid`` outside; setgroups denied before gid_map."""
    with open(f"{proc}/{pid}/uid_map", "w") as f:
        f.write(f"0 {uid} 1\n")
    with open(f"{proc}/{pid}/setgroups", "w") as f:
        f.write("deny")              # or the kernel refuses an unprivileged gid_map (EPERM)
    with open(f"{proc}/{pid}/gid_map", "w") as f:
        f.write(f"0 {gid} 1\n")


FAKE_PID = 4242


def _watched(fn) -> dict:
    """Run ``fn`` as the learner against a directory of plain files; what it wrote where."""
    from .kit import rmtree

    base = reachable_mkdtemp("minictr-l15-")
    try:
        for who in (str(FAKE_PID), "self"):
            os.makedirs(f"{base}/{who}")
            for name, text in (("uid_map", ""), ("gid_map", ""), ("setgroups", "allow\n")):
                with open(f"{base}/{who}/{name}", "w") as f:
                    f.write(text)
        for dirpath, dirnames, filenames in os.walk(base):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), LEARNER_UID, LEARNER_GID)
        os.chown(base, LEARNER_UID, LEARNER_GID)

        def body():
            become(LEARNER_UID, LEARNER_GID)
            try:
                fn(FAKE_PID, LEARNER_UID, LEARNER_GID, base)
            except TypeError as e:
                if "positional argument" in str(e):
                    return {"signature": str(e)}
                raise
            except OSError as e:
                if e.filename and not str(e.filename).startswith(base):
                    return {"elsewhere": str(e.filename)}
                raise
            return {}

        went = in_child(body)
        if "signature" in went:
            raise CaseFailed(f"{went['signature']}: take proc as a fourth parameter, "
                             "def write_maps(pid, uid, gid, proc='/proc'), and write under it")
        if "elsewhere" in went:
            raise CaseFailed(f"you wrote {went['elsewhere']}, not under the proc given: write "
                             "f'{proc}/{pid}/uid_map' (the check passes a directory of plain files as proc)")
        files = {}
        for who in (str(FAKE_PID), "self"):
            for name in ("uid_map", "gid_map", "setgroups"):
                with open(f"{base}/{who}/{name}") as f:
                    files[f"{who}/{name}"] = f.read()
        return files
    finally:
        rmtree(base)


def _failed_file(e: OSError) -> str:
    """The file a refused write went to. A write(2) error has no filename (open worked), so look for
    the open file in the frames it came through: ``with open(path, "w") as f`` leaves ``f`` there."""
    name = str(e.filename or "")
    tb = e.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            candidate = getattr(value, "name", None)
            if isinstance(candidate, str) and candidate.startswith("/proc/"):
                name = candidate
        tb = tb.tb_next
    return name


def _check_one_map(kind: str, text: str, own: int, other: int) -> None:
    """The diagnosis of one map an ordinary user wrote: ``0 own 1``, nothing else."""
    try:
        triples = parse_map(text)
    except ValueError:
        raise CaseFailed(f"{kind} holds {text.strip()!r}: write one line of three numbers, "
                         "'inside outside count'") from None
    if not triples:
        raise CaseFailed(f"{kind} is empty: write '0 {own} 1' to it")
    if len(triples) > 1:
        raise CaseFailed(f"{kind} has {len(triples)} lines: an ordinary user may write only one, its own id")
    inside, outside, count = triples[0]
    if (inside, outside) == (own, 0):
        raise CaseFailed(f"{kind} says '{inside} {outside} {count}': that maps id {own} inside to 0 (root) "
                         f"outside; the first field is the id inside the namespace, the second the id outside: "
                         f"'0 {own} 1'")
    if outside == other and own != other:
        raise CaseFailed(f"{kind} maps outside id {other}: that is the {'gid' if kind == 'uid_map' else 'uid'}; "
                         f"use {'uid' if kind == 'uid_map' else 'gid'} ({own})")
    if count != 1:
        raise CaseFailed(f"{kind} maps {count} ids: an ordinary user may map exactly one, its own (count 1); "
                         "a range needs newuidmap/newgidmap and an entry in /etc/subuid or /etc/subgid")
    if outside != own:
        raise CaseFailed(f"{kind} maps outside id {outside}: an ordinary user may map only its own ({own})")
    if inside != 0:
        raise CaseFailed(f"{kind} maps id {inside} inside: map root, 0, so the child is root in its namespace")


def _write_maps_cases() -> list[Case]:
    pid = str(FAKE_PID)

    def own(files: dict) -> None:
        if files["self/uid_map"] or files["self/gid_map"] or files["self/setgroups"] != "allow\n":
            raise CaseFailed("you wrote proc/self/...: /proc/self is the process that writes, whose own map "
                             "is set for good (EPERM); write the child's, f'{proc}/{pid}/uid_map'")
        if not any(files[f"{pid}/{n}"] for n in ("uid_map", "gid_map")) and files[f"{pid}/setgroups"] == "allow\n":
            raise CaseFailed("nothing was written in the `proc` given: write f'{proc}/{pid}/uid_map' and the others "
                             "(the check passes a directory of plain files as proc, to see what you write)")

    def uid_map(fn):
        files = _watched(fn)
        own(files)
        _check_one_map("uid_map", files[f"{pid}/uid_map"], LEARNER_UID, LEARNER_GID)

    def gid_map(fn):
        files = _watched(fn)
        own(files)
        if files[f"{pid}/setgroups"].strip() != "deny":
            raise CaseFailed(f"setgroups says {files[f'{pid}/setgroups'].strip()!r}: write 'deny' to it before "
                             "gid_map, or the kernel refuses an ordinary user's gid_map (EPERM)")
        _check_one_map("gid_map", files[f"{pid}/gid_map"], LEARNER_GID, LEARNER_UID)

    def for_real(fn):
        from .kit import rmtree

        base = reachable_mkdtemp("minictr-l15-")
        os.chown(base, LEARNER_UID, LEARNER_GID)
        try:
            def as_learner():
                become(LEARNER_UID, LEARNER_GID)

                def outside(child: int):
                    try:
                        fn(child, LEARNER_UID, LEARNER_GID)
                    except OSError as e:
                        with open(f"/proc/{child}/setgroups") as f:
                            setgroups = f.read().strip()
                        maps = {}
                        for n in ("uid_map", "gid_map"):
                            with open(f"/proc/{child}/{n}") as f:
                                maps[n] = f.read()
                        return {"errno": errno.errorcode.get(e.errno, "?"), "file": _failed_file(e),
                                "line": exc_line(e), "setgroups": setgroups, "writer": os.getpid(), "child": child,
                                **maps}
                    return {}

                def inside():
                    path = os.path.join(base, "made-inside")
                    with open(path, "w"):
                        pass
                    return {"ids": [os.getuid(), os.getgid()]}

                return userns_pair(outside, inside)

            failed, got = in_child(as_learner)
            made = os.stat(os.path.join(base, "made-inside")) if os.path.exists(f"{base}/made-inside") else None
        finally:
            rmtree(base)
        if failed:
            name = os.path.basename(failed["file"])
            if failed["file"].startswith("/proc/self/") or failed["file"] == f"/proc/{failed['writer']}/{name}":
                raise CaseFailed(f"{failed['file']} was refused ({failed['errno']}): that is the writer's own "
                                 "map; write the child's, /proc/PID/...")
            if name in ("uid_map", "gid_map") and failed[name].strip():
                raise CaseFailed(f"{name} was written twice: the kernel takes a map once, the second write "
                                 f"fails with {failed['errno']}; write each map once, all its lines at once")
            if name == "gid_map" and failed["setgroups"] == "allow":
                raise CaseFailed(f"the kernel refused gid_map ({failed['errno']}) because setgroups still said "
                                 "allow: write 'deny' to /proc/PID/setgroups *before* gid_map")
            if name in ("uid_map", "gid_map"):
                own = LEARNER_UID if name == "uid_map" else LEARNER_GID
                raise CaseFailed(f"the kernel refused {name} ({failed['errno']}): from an ordinary user it takes "
                                 f"one line, '0 {own} 1' (inside 0, outside the writer's own id, count 1)")
            if not name and failed["uid_map"].strip() and failed["gid_map"].strip():
                raise CaseFailed(f"a write was refused ({failed['errno']}) after both maps were set: a map "
                                 "written twice? The kernel takes each map once")
            where = failed["file"].replace(f"/{failed['child']}/", "/PID/") or "a file"
            raise CaseFailed(f"the kernel refused a write to {where}: {failed['line']} "
                             f"(setgroups: {failed['setgroups']}, uid_map {'set' if failed['uid_map'] else 'empty'}, "
                             f"gid_map {'set' if failed['gid_map'] else 'empty'})")
        if "error" in got:
            raise CaseFailed(f"in the child: {got['error']}")
        if got["ids"] != [0, 0]:
            raise CaseFailed(f"inside, the child is uid {got['ids'][0]} and gid {got['ids'][1]}, not 0 and 0 "
                             "(65534 is the overflow id: no map, or an incomplete one)")
        if made is None or (made.st_uid, made.st_gid) != (LEARNER_UID, LEARNER_GID):
            raise CaseFailed("a file the child made as root is not owned by the user outside")

    return [
        Case("uid_map, watched: '0 UID 1', one line, the child's not the writer's", uid_map),
        Case("setgroups and gid_map, watched: 'deny', then '0 GID 1'", gid_map),
        Case("for real, as uid 1234: the kernel takes the maps; inside uid 0, outside its files are 1234's",
             for_real),
    ]


register(Exercise(
    id="15.write_maps", title="An ordinary user writes its child's maps",
    function="write_maps", signature='def write_maps(pid: int, uid: int, gid: int, proc: str = "/proc") -> None',
    cases=_write_maps_cases,
    reference=lambda: write_maps,
    needs_root=True,
))


# -- exercise 2: the uid_map of a rootless container ------------------------------------------

def rootless_map(uid: int, start: int, count: int) -> str:
    """minictr's answer: container root is the user; container 1..count the subordinate range."""
    return f"0 {uid} 1\n1 {start} {count}\n"


def _rootless_cases() -> list[Case]:
    def lines(fn, uid, start, count) -> list[tuple[int, int, int]]:
        text = fn(uid, start, count)
        if not isinstance(text, str):
            raise CaseFailed(f"returned {type(text).__name__}: return the map's text, lines of 'inside outside count'")
        try:
            return parse_map(text)
        except ValueError as e:
            raise CaseFailed(f"not a map: {e}; each line is three numbers, 'inside outside count'") from None

    def diagnose(got, uid, start, count) -> None:
        want = parse_map(rootless_map(uid, start, count))
        if got == want:
            return
        if sorted(got) == sorted(want):
            return  # the kernel takes the lines in any order
        insides = [(i, i + n) for i, _o, n in got]
        outsides = [(o, o + n) for _i, o, n in got]
        if [(o, i, n) for i, o, n in got] == want or any(i in (uid, start) and o in (0, 1) for i, o, _n in got):
            raise CaseFailed("fields swapped: each line is 'inside outside count', the container's id first, "
                             f"then the host's: '0 {uid} 1' and '1 {start} {count}'")
        for spans, where in ((insides, "container"), (outsides, "host")):
            spans = sorted(spans)
            for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
                if b0 < a1:
                    why = ("the subordinate range starts at container id 1, after root" if where == "container"
                           else "your own uid and the subordinate range are different host ids")
                    raise CaseFailed(f"the lines overlap: {where} id {b0} is in two ranges (the kernel says "
                                     f"EINVAL); {why}")
        root = [o for i, o, _n in got if i == 0]
        if root and root[0] != uid:
            raise CaseFailed(f"container root is host uid {root[0]}, not yours ({uid}): the files it makes would "
                             "belong to a subordinate uid you cannot act as outside; map 0 to your own uid")
        total = sum(n for i, _o, n in got if i >= 1)
        if total == count - 1 or total == count + 1:
            raise CaseFailed(f"{total} container ids after root, not {count}: the count is the range's size, "
                             f"ids 1 to {count} become {start} to {start + count - 1}")
        raise CaseFailed(f"for uid {uid}, range {start} + {count}: got {got}, expected {want}")

    def shape(fn):
        diagnose(lines(fn, LEARNER_UID, 100000, 65536), LEARNER_UID, 100000, 65536)

    def another(fn):
        first = lines(fn, LEARNER_UID, 100000, 65536)
        got = lines(fn, 1000, 231072, 1000)
        if got == first:
            raise CaseFailed("the same map for another user and range: a hard-coded answer? use the arguments")
        diagnose(got, 1000, 231072, 1000)

    def written(fn):
        from .kit import rmtree

        uid, start, count = LEARNER_UID, 100000, 65536
        text = fn(uid, start, count)
        if not isinstance(text, str):
            raise CaseFailed("return the map's text")
        base = reachable_mkdtemp("minictr-l15-")
        os.chmod(base, 0o777)        # container uid 1000 (host 100999) makes a file in it
        try:
            def as_root():
                def outside(child: int):
                    written_ = {}
                    for name in ("uid_map", "gid_map"):
                        written_[name] = attempt(_write, f"/proc/{child}/{name}", text)
                    return written_

                def inside():
                    try:
                        os.setresgid(1000, 1000, 1000)
                        os.setresuid(1000, 1000, 1000)     # root in the namespace: CAP_SETUID there
                    except OSError as e:
                        return {"error": f"container uid 1000 has no map in yours (setresuid: "
                                         f"{errno.errorcode.get(e.errno, e.errno)})"}
                    with open(os.path.join(base, "made-by-1000"), "w"):
                        pass
                    return True

                return userns_pair(outside, inside)

            verdicts, got = in_child(as_root)
            if verdicts["uid_map"] != "ok":
                raise CaseFailed(f"root wrote your map into a child's uid_map and the kernel said "
                                 f"{verdicts['uid_map']}: {'the ranges overlap' if verdicts['uid_map'] == 'EINVAL' else 'refused'}")
            if got is not True:
                raise CaseFailed(f"inside: {got.get('error', got)}")
            owner = os.stat(os.path.join(base, "made-by-1000")).st_uid
            if owner != start + 999:
                raise CaseFailed(f"a file made by container uid 1000 belongs to host uid {owner}, not {start + 999}")
        finally:
            rmtree(base)

    return [
        Case("uid 1234, range 100000 + 65536: two lines, no overlap", shape),
        Case("another user and range: uid 1000, 231072 + 1000", another),
        Case("written by root into a real child: container uid 1000 makes files as host uid 100999", written),
    ]


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


register(Exercise(
    id="15.rootless_map", title="The uid_map of a rootless container",
    function="rootless_map", signature="def rootless_map(uid: int, start: int, count: int) -> str",
    cases=_rootless_cases,
    reference=lambda: rootless_map,
    needs_root=True,
))


# -- the quizzes: answer keys kept out of the notebook ----------------------------------------

QUIZZES = {
    "15.owner": {
        "question": "Uid 1000 runs a rootless container (`0 1000 1`). Its root creates /data/f in a bind-mounted "
                    "host directory. Who owns the file on the host?",
        "right": {
            "uid 1000":
                "Root inside is uid 1000 outside: the kernel stores the host's id on disk, so the user owns "
                "what the container's root makes.",
        },
        "wrong": {
            "root (uid 0)": "Only if the map said '0 0 ...': a rootless container cannot map host root.",
            "nobody (65534)": "65534 is how an id *without* a map is shown; container root has one.",
            "uid 100000, the first of the subordinate range":
                "The subordinate range starts at container uid 1; root is the user's own uid.",
        },
        "hint": "read the map's line as 'inside outside count'",
    },
    "15.caps": {
        "question": "Root in a new user namespace (with a new UTS and mount namespace too) has a full CapEff. "
                    "What can it do? (tick all that apply)",
        "right": {
            "set the hostname of its own UTS namespace":
                "CAP_SYS_ADMIN over a UTS namespace that its user namespace owns is enough.",
            "mount a tmpfs in its own mount namespace":
                "tmpfs may be mounted from a user namespace (FS_USERNS_MOUNT), in a mount namespace it owns.",
        },
        "wrong": {
            "mount the ext4 file system of a disk":
                "A block device's file system trusts what is on the disk: only root of the initial user "
                "namespace may mount it (a crafted image could attack the kernel).",
            "read /etc/shadow of the host":
                "CAP_DAC_OVERRIDE applies only to files whose owner and group are mapped in the namespace; "
                "root:shadow is not, so it shows as 65534 and the mode decides: EACCES.",
            "make /dev/null with mknod":
                "Making a device node needs CAP_MKNOD in the initial user namespace: EPERM.",
        },
        "multiple": True,
        "hint": "capabilities count only over what the namespace owns",
    },
    "15.setgroups": {
        "question": "Why must an ordinary user write 'deny' to /proc/PID/setgroups before gid_map?",
        "right": {
            "so root inside cannot drop a group and get past a file whose mode shuts that group out":
                "Negative group permissions (rwx for others, nothing for a group) would stop working if root "
                "inside could call setgroups([]) and leave that group; the kernel demands that the door is "
                "closed before it takes an unprivileged gid map (since Linux 3.19).",
        },
        "wrong": {
            "so root inside cannot add itself to a host group it was never in, such as disk":
                "setgroups(2) takes only mapped gids, and disk has no map: adding was never possible. "
                "The danger is in dropping a group.",
            "so the child cannot switch its gid with setgid(2) to another mapped gid":
                "setgid(2) is ruled by the gid map alone; setgroups is about the supplementary groups.",
            "so the gid map can be written only once":
                "Every map can be written only once anyway, with or without setgroups.",
        },
        "hint": "what could root inside do with setgroups(2) that an ordinary user cannot?",
    },
    "15.newuidmap": {
        "question": "What does newuidmap check before it writes a child's uid_map? (tick all that apply)",
        "right": {
            "that each range is the caller's own uid or lies in its lines of /etc/subuid":
                "It reads /etc/subuid by the caller's name (and uid); anything outside is 'not allowed'.",
            "that the target process belongs to the caller":
                "It refuses a process of another user: you may only set up your own children.",
        },
        "wrong": {
            "that the caller is root": "It is setuid root (or has CAP_SETUID) so that ordinary users can use it.",
            "that the container image is signed": "It knows nothing of images: it writes a map.",
        },
        "multiple": True,
        "hint": "it is a setuid program: whom must it protect from whom?",
    },
}
