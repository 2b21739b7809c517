"""L1: user namespaces: whose ids a container gets, and how its maps are written.

A user namespace gives its processes ids of their own. Two files of the
child's /proc entry say how those ids map to the host's, one line per range,
``container_id host_id size`` (written once, by a process outside)::

    /proc/PID/uid_map     0 1000 1            root inside is uid 1000 outside
                          1 100000 65536      1..65536 are the user's subordinate ids

An ordinary user may write one line only: their own uid (and, after writing
"deny" to ``/proc/PID/setgroups``, their own gid). Anything more needs the
setuid helpers ``newuidmap`` and ``newgidmap`` (Debian's ``uidmap``), which map
the ranges that ``/etc/subuid`` and ``/etc/subgid`` grant the user. Root may
write any map itself.

``plan()`` chooses the maps from ``--userns`` (podman's names), as data:

==========  ================================  ==================================
--userns    an ordinary user                  root
==========  ================================  ==================================
(none)      as ``auto``                       no user namespace (``host``)
host        refused: no root to share         no user namespace
auto        0 -> uid, 1..N -> the subuid      0..65535 -> an unprivileged range
            range (newuidmap); without one,   (the ``containers`` line of
            0 -> uid only                     /etc/subuid, else 1000000000)
keep-id     uid -> uid, the rest of the       refused: root's id is root's
            range around it; runs as uid
==========  ================================  ==================================

``write_maps()`` is the parent's half of process.py's handshake. ``refusal()``
reads the host settings that forbid unprivileged user namespaces, to name
the one to change when unshare(CLONE_NEWUSER) fails.

Man pages: user_namespaces(7), newuidmap(1), newgidmap(1), subuid(5),
subgid(5), capabilities(7); the kernel's Documentation/admin-guide/sysctl/user.rst.
"""

from __future__ import annotations

import os

from .errors import MinictrError
from .record import Record

MODES = ("host", "auto", "keep-id")
#: The range ``--userns=auto`` gives root's containers when /etc/subuid has no "containers" line.
AUTO_ROOT_BASE, AUTO_SIZE = 1_000_000_000, 65536
NEWUIDMAP, NEWGIDMAP = "newuidmap", "newgidmap"


class UsernsError(MinictrError):
    """A user namespace that cannot be had: the host refuses it, or the maps cannot be written."""


class UserMaps(Record):
    """What ``plan`` decided. Empty maps: no user namespace.

    ``helper``: the maps need newuidmap/newgidmap; ``user``: the ``-u`` it implies
    (keep-id runs as the user's own ids); ``note``: one line for the user, or "".
    """

    uid_map: tuple[tuple[int, int, int], ...] = ()
    gid_map: tuple[tuple[int, int, int], ...] = ()
    helper: bool = False
    user: str | None = None
    note: str = ""


def parse_subid(text: str, name: str, uid: int) -> list[tuple[int, int]]:
    """The ``(start, count)`` ranges that a subuid(5)/subgid(5) file grants a user.

    Lines are ``owner:start:count``; the owner is a login name or a numeric uid.
    Blank lines, ``#`` comments and malformed lines are skipped, as shadow's tools do.
    """
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        if parts[0] == name or parts[0] == str(uid):
            start, count = int(parts[1]), int(parts[2])
            if count > 0:
                out.append((start, count))
    return out


def read_subids(path: str, name: str, uid: int) -> list[tuple[int, int]]:
    try:
        with open(path) as f:
            return parse_subid(f.read(), name, uid)
    except OSError:
        return []


def which(program: str, path: str | None = None) -> str | None:
    """The first executable ``program`` on ``$PATH`` (shutil.which, without importing shutil)."""
    for d in (path if path is not None else os.environ.get("PATH", "/usr/bin:/bin")).split(":"):
        full = os.path.join(d or ".", program)
        if os.access(full, os.X_OK) and not os.path.isdir(full):
            return full
    return None


def _ranges_map(own: int, ranges: list[tuple[int, int]]) -> tuple[tuple[int, int, int], ...]:
    """0 -> ``own``, then 1, 2, ... -> the ranges in order (podman's rootless default)."""
    out = [(0, own, 1)]
    inside = 1
    for start, count in ranges:
        out.append((inside, start, count))
        inside += count
    return tuple(out)


def _keep_id_map(own: int, ranges: list[tuple[int, int]]) -> tuple[tuple[int, int, int], ...]:
    """``own`` -> ``own``; 0..own-1 and own+1.. -> the subordinate ranges, as podman's keep-id."""
    out = [(own, own, 1)]
    inside = 0
    for start, count in ranges:
        while count > 0:
            if inside == own:
                inside += 1
            size = min(count, own - inside) if inside < own else count
            out.append((inside, start, size))
            inside, start, count = inside + size, start + size, count - size
    return tuple(sorted(out))


def plan(mode: str | None, uid: int, gid: int, name: str, *, subuids=(), subgids=(),
         helpers: bool = True, containers_range: tuple[int, int] | None = None) -> UserMaps:
    """The maps for ``--userns=mode`` (None: the default) run by ``uid``/``gid`` (login ``name``).

    ``subuids``/``subgids`` are the user's ranges (``read_subids``); ``helpers``
    says newuidmap and newgidmap are installed; ``containers_range`` is root's
    ``containers`` line of /etc/subuid for ``auto``. Raises ``UsernsError``.
    """
    if mode is not None and mode not in MODES:
        raise UsernsError(f"--userns: unknown mode {mode!r}", hint="use host, auto or keep-id")
    if uid == 0:
        if mode in (None, "host"):
            return UserMaps()
        if mode == "keep-id":
            raise UsernsError("--userns=keep-id is for an ordinary user: root's own id inside would be root",
                              hint="use --userns=auto to map root inside to an unprivileged range")
        base, size = containers_range or (AUTO_ROOT_BASE, AUTO_SIZE)
        return UserMaps(uid_map=((0, base, size),), gid_map=((0, base, size),))
    if mode == "host":
        raise UsernsError("--userns=host needs root: an ordinary user's container always has a user namespace",
                          hint="leave --userns out (root inside is your own uid outside), or run as root")
    subuids, subgids = list(subuids), list(subgids)
    ranged = bool(subuids and subgids)
    note = ""
    if ranged and not helpers:
        note = (f"note: newuidmap/newgidmap not found: mapping only your own uid {uid} "
                "(install the uidmap package for the subordinate ids in /etc/subuid)")
        ranged = False
    if mode == "keep-id":
        if ranged:
            return UserMaps(uid_map=_keep_id_map(uid, subuids), gid_map=_keep_id_map(gid, subgids),
                            helper=True, user=f"{uid}:{gid}", note=note)
        return UserMaps(uid_map=((uid, uid, 1),), gid_map=((gid, gid, 1),), user=f"{uid}:{gid}", note=note)
    if ranged:
        return UserMaps(uid_map=_ranges_map(uid, subuids), gid_map=_ranges_map(gid, subgids), helper=True, note=note)
    return UserMaps(uid_map=((0, uid, 1),), gid_map=((0, gid, 1),), note=note)


def plan_for_me(mode: str | None, *, subuid: str = "/etc/subuid", subgid: str = "/etc/subgid") -> UserMaps:
    """``plan`` for this process: its ids, its login name, the host's files and helpers."""
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0 and mode in (None, "host"):
        return UserMaps()  # the common root run: no file read at all
    import pwd
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    if uid == 0:
        found = read_subids(subuid, "containers", -1)
        return plan(mode, uid, gid, name, containers_range=found[0] if found else None)
    return plan(mode, uid, gid, name, subuids=read_subids(subuid, name, uid), subgids=read_subids(subgid, name, uid),
                helpers=bool(which(NEWUIDMAP) and which(NEWGIDMAP)))


def needs_helper(uid_map, gid_map, euid: int, egid: int) -> bool:
    """Can the parent write these maps itself? Root can; a user only a single line of their own id."""
    if euid == 0:
        return False
    return not (len(uid_map) == 1 and uid_map[0][1:] == (euid, 1)
                and len(gid_map) == 1 and gid_map[0][1:] == (egid, 1))


def map_text(entries) -> bytes:
    """A map as the kernel reads it: one ``inside outside size`` line per entry, in one write(2)."""
    return "".join(f"{a} {b} {n}\n" for a, b, n in entries).encode()


def write_maps(pid: int, uid_map, gid_map, *, proc: str = "/proc", spawn=None,
               euid: int | None = None, egid: int | None = None) -> None:
    """Write the user namespace maps of process ``pid`` (the parent's half of the handshake).

    Each file takes one write(2), once (user_namespaces(7)). When the maps need
    privilege this process lacks, ``newuidmap``/``newgidmap`` write them
    (``spawn(argv)`` runs one and returns its exit status; tests pass a fake).
    ``euid``/``egid``: the writer's ids (default: this process's).
    """
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid
    if needs_helper(uid_map, gid_map, euid, egid):
        run = spawn or _spawn
        for prog, entries in ((NEWUIDMAP, uid_map), (NEWGIDMAP, gid_map)):
            argv = [prog, str(pid)] + [str(n) for entry in entries for n in entry]
            status = run(argv)
            if status != 0:
                raise UsernsError(f"{prog} {pid} failed (exit status {status}): the ranges are not yours in "
                                  f"/etc/sub{'uid' if prog == NEWUIDMAP else 'gid'}",
                                  hint="ask the admin for a line `USER:START:COUNT` there (usermod --add-subuids)")
        return
    base = f"{proc}/{pid}"
    if euid != 0:
        # Why "deny" first: an unprivileged writer may map its own gid only after
        # setgroups(2) is switched off for good in that namespace, or the mapped
        # "root" inside could drop the user's supplementary groups outside, and
        # so escape a "deny by group" permission (CVE-2014-8989).
        _write(f"{base}/setgroups", b"deny")
    _write(f"{base}/uid_map", map_text(uid_map))
    _write(f"{base}/gid_map", map_text(gid_map))


def _write(path: str, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        raise UsernsError(f"write {path}: {os.strerror(e.errno)}",
                          hint="see user_namespaces(7), \"uid_map and gid_map files\"") from None


def _spawn(argv: list[str]) -> int:
    """Run a helper and wait: posix_spawn, as subprocess costs ~10 ms to import."""
    path = which(argv[0])
    if path is None:
        return 127
    pid = os.posix_spawn(path, argv, os.environ)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


#: The host settings that forbid an unprivileged user namespace, and what to write to allow one.
SETTINGS = (
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
     "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+)",
     "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile with `userns,` "
     "for the python that runs minictr"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "0",
     "kernel.unprivileged_userns_clone=0 forbids unprivileged user namespaces (Debian's patch)",
     "sysctl -w kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/user/max_user_namespaces", "0",
     "user.max_user_namespaces=0 allows no user namespace at all",
     "sysctl -w user.max_user_namespaces=15000"),
)


def refusal(read=None, euid: int | None = None) -> tuple[str, str] | None:
    """``(why, how to allow it)`` if a host setting refuses this user a user namespace, else None.

    Read-only: ``read(path)`` returns a file's text or None (default: the real
    /proc/sys files). ``max_user_namespaces`` binds root too; the other two only
    ordinary users.
    """
    read = read or _read_text
    uid = os.geteuid() if euid is None else euid
    for path, bad, why, fix in SETTINGS:
        if uid == 0 and "max_user_namespaces" not in path:
            continue
        value = read(path)
        if value is not None and value.strip() == bad:
            return why, fix
    return None


def check_host(read=None, euid: int | None = None) -> None:
    """Raise ``UsernsError`` naming the host setting, if one refuses the user namespace."""
    found = refusal(read, euid)
    if found is not None:
        why, fix = found
        raise UsernsError(f"the host refuses a user namespace: {why}", hint=fix)


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def to_host(entries, inside: int) -> int | None:
    """The host id that container id ``inside`` maps to, or None when it is not mapped."""
    for start, host, size in entries:
        if start <= inside < start + size:
            return host + inside - start
    return None


def shift_owners(bundle: str, root: str, uid_map, gid_map) -> int:
    """Give a copied root the owners its user namespace sees (root's ``--userns=auto``).

    Each file's owner is read as a container id (the layer's own) and set to the
    host id it maps to, so root inside owns what root owned in the image, and
    the host's root owns nothing in it. The bundle dir goes to the container's
    root, which must enter it. Ids the map lacks are left alone (they show as
    65534 inside). chown(2) clears setuid and setgid bits: they are put back.
    Returns how many entries changed.
    """
    import stat
    os.chown(bundle, to_host(uid_map, 0), to_host(gid_map, 0))
    changed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        # each directory once, as a dirpath; a symlink to a directory is in dirnames but never walked
        links = [n for n in dirnames if os.path.islink(os.path.join(dirpath, n))]
        for path in [dirpath] + [os.path.join(dirpath, n) for n in links + filenames]:
            st = os.lstat(path)
            uid, gid = to_host(uid_map, st.st_uid), to_host(gid_map, st.st_gid)
            if uid is None and gid is None:
                continue
            os.lchown(path, -1 if uid is None else uid, -1 if gid is None else gid)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode))
            changed += 1
    return changed


def remove_inside(path: str, uid_map, gid_map, kernel=None) -> bool:
    """Remove ``path`` as root of a new user namespace with these maps (podman's ``unshare rm``).

    A rootless container's root may have made files as one of the user's
    subordinate ids (keep-id's root, any non-root user inside), which the user
    cannot delete outside. Inside a user namespace with the same maps they are
    root's own. The same handshake as a container's start, in a forked child.
    Returns True when ``path`` is gone.
    """
    from .fsutil import remove_tree
    from .syscalls import CloneFlags
    if kernel is None:
        from .syscalls import linux
        kernel = linux()
    up_r, up_w = os.pipe()      # child -> parent: "unshared"
    go_r, go_w = os.pipe()      # parent -> child: "mapped"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(up_r)
            os.close(go_w)
            kernel.unshare(CloneFlags.NEWUSER)
            os.write(up_w, b"u")
            if os.read(go_r, 1) == b"m":
                if any(inside == 0 for inside, _h, _n in gid_map):
                    os.setresgid(0, 0, 0)
                if any(inside == 0 for inside, _h, _n in uid_map):
                    os.setresuid(0, 0, 0)
                remove_tree(path, ignore_errors=True)
                code = 0
        finally:
            os._exit(code)
    os.close(up_w)
    os.close(go_r)
    try:
        if os.read(up_r, 1) == b"u":
            write_maps(pid, uid_map, gid_map)
            os.write(go_w, b"m")
    except (OSError, MinictrError):
        pass  # the child reads end-of-file and gives up; the caller sees the path is still there
    finally:
        os.close(up_r)
        os.close(go_w)
        os.waitpid(pid, 0)
    return not os.path.lexists(path)
