"""L0: the thin layer between minictr and the kernel.

This is the only module that touches ``ctypes``. Everything above it calls a
``Syscalls`` object, so a test can pass a ``FakeSyscalls`` that records each
call as data instead of changing the machine (the idea of youki's syscall
trait and test double).

Python 3.11 has no ``os.unshare``/``os.setns`` (they arrived in 3.12), and no
Python has ``mount``, ``umount2``, ``pivot_root`` or ``sethostname``, so we
call libc directly. Where the ``os`` module has the call, we use it.

Man pages: unshare(2), setns(2), mount(2), umount2(2), pivot_root(2),
sethostname(2), prctl(2), netdevice(7), capget(2) and capset(2), capabilities(7),
bpf(2).

Why one file of over 400 lines: it is the only module that touches ctypes, by design. Every
call minictr makes to the kernel, and the recording fake that stands in for it in tests,
sit side by side, so one file shows all that the runtime asks of the kernel.
"""

from __future__ import annotations

import errno
import os

from .errors import SyscallError


class Flags:
    """A named set of bit flags: plain ``int`` class attributes, combined with ``|``.

    (Not ``enum.IntFlag``: importing ``enum`` costs about 3 ms, a tenth of a
    container start. ``flag_names`` turns a value back into its names.)
    """

    @classmethod
    def members(cls) -> list[tuple[str, int]]:
        """``[(name, value), ...]`` in the order they are defined, parents' first."""
        out: dict[str, int] = {}
        for klass in reversed(cls.__mro__):
            out.update((k, v) for k, v in vars(klass).items() if k.isupper() and isinstance(v, int))
        return list(out.items())


class CloneFlags(Flags):
    """Namespace flags for unshare(2) and setns(2) (from <linux/sched.h>)."""

    NEWTIME = 0x00000080
    NEWNS = 0x00020000
    NEWCGROUP = 0x02000000
    NEWUTS = 0x04000000
    NEWIPC = 0x08000000
    NEWUSER = 0x10000000
    NEWPID = 0x20000000
    NEWNET = 0x40000000


class MountFlags(Flags):
    """Flags for mount(2) (from <sys/mount.h>)."""

    NONE = 0
    RDONLY = 1
    NOSUID = 2
    NODEV = 4
    NOEXEC = 8
    REMOUNT = 32
    NOATIME = 1024
    NODIRATIME = 2048
    BIND = 4096
    MOVE = 8192
    REC = 16384
    UNBINDABLE = 1 << 17
    PRIVATE = 1 << 18
    SLAVE = 1 << 19
    SHARED = 1 << 20
    RELATIME = 1 << 21
    STRICTATIME = 1 << 24


class UmountFlags(Flags):
    """Flags for umount2(2)."""

    NONE = 0
    FORCE = 1
    DETACH = 2
    EXPIRE = 4
    NOFOLLOW = 8


PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

#: capset(2)'s header version for 64-bit capability sets (two 32-bit words per set).
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# bpf(2) commands (from <linux/bpf.h>).
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9

# clone(2) by number: glibc's clone() wants a new stack and a function; this one is fork(2)-like.
_SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120, "armv7l": 120}
CLONE_PARENT = 0x00008000
_SIGCHLD = 17

# glibc has no wrapper for bpf(2): syscall(2) by number.
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351, "armv7l": 386}

# glibc has no pivot_root() wrapper, so we go through syscall(2) by number.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217, "armv7l": 218}
# glibc has no seccomp() wrapper either (seccomp(2)).
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358, "s390x": 348, "armv7l": 383}
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1      # apply to every thread of the process
SECCOMP_FILTER_FLAG_LOG = 2        # log every action but ALLOW


def _enc(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def flag_names(flags: int, enum_type: type[Flags] = MountFlags, prefix: str = "MS_") -> str:
    """``MS_NOSUID|MS_NODEV`` for a flags value, in the words of the man page."""
    names = [prefix + name for name, value in enum_type.members() if value and (flags & value) == value]
    return "|".join(names) or "0"


class Syscalls:
    """What the runtime asks of the kernel. ``LinuxSyscalls`` does it, ``FakeSyscalls`` records it.

    A plain base class that only names the calls (not a ``typing.Protocol``:
    ``typing`` is a few milliseconds that ``minictr run`` does not need).
    """

    def unshare(self, flags: int) -> None:
        raise NotImplementedError

    def setns(self, fd: int, nstype: int = 0) -> None:
        raise NotImplementedError

    def clone_parent(self) -> int:
        """fork(2), but the new process is a child of the caller's parent (CLONE_PARENT): pid, or 0 in it."""
        raise NotImplementedError

    def mount(self, source: str | None, target: str, fstype: str | None = None,
              flags: int = 0, data: str | None = None) -> None:
        raise NotImplementedError

    def umount2(self, target: str, flags: int = 0) -> None:
        raise NotImplementedError

    def pivot_root(self, new_root: str, put_old: str) -> None:
        raise NotImplementedError

    def sethostname(self, name: str) -> None:
        raise NotImplementedError

    def prctl(self, option: int, arg2: int = 0) -> int:
        raise NotImplementedError

    def set_link_up(self, ifname: str) -> None:
        raise NotImplementedError

    def seccomp_set_mode_filter(self, program: bytes, flags: int = 0) -> None:
        raise NotImplementedError

    def chdir(self, path: str) -> None:
        raise NotImplementedError

    def chroot(self, path: str) -> None:
        raise NotImplementedError

    def mknod(self, path: str, mode: int, major: int, minor: int) -> None:
        raise NotImplementedError

    def capget(self) -> tuple[int, int, int]:
        """This thread's (effective, permitted, inheritable) capability sets, as 64-bit masks."""
        raise NotImplementedError

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        raise NotImplementedError

    def capbset_drop(self, cap: int) -> bool:
        """Drop ``cap`` from the bounding set. False if the kernel knows no such capability."""
        raise NotImplementedError

    def cap_ambient_clear(self) -> None:
        raise NotImplementedError

    def set_no_new_privs(self) -> None:
        raise NotImplementedError

    def bpf_prog_load(self, prog_type: int, insns: bytes, license: str = "GPL") -> int:
        """Load an eBPF program (``insns``: 8 bytes per instruction). Returns its fd."""
        raise NotImplementedError

    def bpf_prog_attach(self, target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
        raise NotImplementedError


class LinuxSyscalls(Syscalls):
    """The real thing: libc through ctypes. One instance per process is enough."""

    def __init__(self) -> None:
        import ctypes  # imported here: the runtime pays for ctypes only when it needs the kernel

        self._ctypes = ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)
        for name in ("mount", "umount2", "sethostname", "unshare", "setns"):
            getattr(self._libc, name).restype = ctypes.c_int
        self._libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.c_ulong, ctypes.c_char_p]
        self._libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self._libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        self._libc.unshare.argtypes = [ctypes.c_int]
        self._libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        self._libc.prctl.restype = ctypes.c_int
        self._libc.syscall.restype = ctypes.c_long
        self._libc.capget.restype = self._libc.capset.restype = ctypes.c_int

    def _check(self, ret: int, call: str, detail="") -> int:
        """Raise SyscallError for a failed call. ``detail`` may be a function: the
        words of the error message are only worked out when there is an error."""
        if ret < 0:
            err = self._ctypes.get_errno()
            raise SyscallError(call, err, detail() if callable(detail) else detail)
        return ret

    def unshare(self, flags: int) -> None:
        # Python 3.12+ has os.unshare; use it where it exists.
        if hasattr(os, "unshare"):
            try:
                os.unshare(flags)
            except OSError as e:
                raise SyscallError("unshare", e.errno, flag_names(flags, CloneFlags, "CLONE_")) from None
            return
        self._check(self._libc.unshare(flags), "unshare", lambda: flag_names(flags, CloneFlags, "CLONE_"))

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._check(self._libc.setns(fd, nstype), "setns", lambda: flag_names(nstype, CloneFlags, "CLONE_"))

    def mount(self, source, target, fstype=None, flags=0, data=None) -> None:
        ret = self._libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data))
        self._check(ret, "mount", lambda: f"{source or fstype} on {target} ({flag_names(flags)})")

    def umount2(self, target: str, flags: int = 0) -> None:
        self._check(self._libc.umount2(os.fsencode(target), flags), "umount2",
                    lambda: f"{target} ({flag_names(flags, UmountFlags, 'MNT_')})")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        machine = os.uname().machine  # what platform.machine() returns, without importing platform
        nr = _SYS_PIVOT_ROOT.get(machine)
        if nr is None:
            raise SyscallError("pivot_root", 38, f"(no syscall number known for {machine})")
        c = self._ctypes
        ret = self._libc.syscall(c.c_long(nr), c.c_char_p(os.fsencode(new_root)), c.c_char_p(os.fsencode(put_old)))
        self._check(ret, "pivot_root", f"{new_root} {put_old}")

    def clone_parent(self) -> int:
        # A raw clone(2) with no new stack copies the caller as fork(2) does; the
        # caller must be single-threaded (a fresh fork is). Python's own fork
        # hooks do not run: nothing in the copy may rely on them (process.py).
        c = self._ctypes
        nr = self._nr(_SYS_CLONE, "clone")
        return self._check(self._libc.syscall(c.c_long(nr), c.c_ulong(CLONE_PARENT | _SIGCHLD), c.c_ulong(0),
                                              c.c_ulong(0), c.c_ulong(0), c.c_ulong(0)), "clone", "CLONE_PARENT")

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), "sethostname", repr(name))

    def prctl(self, option: int, arg2: int = 0) -> int:
        c = self._ctypes
        return self._check(self._libc.prctl(c.c_int(option), c.c_ulong(arg2), c.c_ulong(0), c.c_ulong(0),
                                            c.c_ulong(0)), "prctl", str(option))

    def set_link_up(self, ifname: str) -> None:
        # SIOCGIFFLAGS/SIOCSIFFLAGS on any socket of the namespace (netdevice(7)).
        # This is what `ip link set lo up` does, without needing iproute2 in the image.
        import _socket  # not socket: its enums cost ~5 ms, in the container's start
        import fcntl
        import struct

        SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:
            req = struct.pack("16sh14x", ifname.encode(), 0)
            flags = struct.unpack("16sh14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh14x", ifname.encode(), flags | IFF_UP))
        except OSError as e:
            raise SyscallError("ioctl", e.errno, f"SIOCSIFFLAGS {ifname} up") from None
        finally:
            s.close()


    def seccomp_set_mode_filter(self, program: bytes, flags: int = 0) -> None:
        """Install a classic BPF seccomp filter (bytes of struct sock_filter) on this thread.

        Why the runtime can do this: the kernel accepts a filter only from a caller
        that has set no_new_privs (prctl PR_SET_NO_NEW_PRIVS) or that has CAP_SYS_ADMIN
        in its user namespace; otherwise EACCES. The rule stops an unprivileged process
        from confining a setuid program it then executes, and tricking it. The container
        init loads the filter as its last step before exec, while it still has
        CAP_SYS_ADMIN (before dropping capabilities), or after setting no_new_privs.
        Filters stack and are inherited across fork and exec: there is no way back.
        """
        c = self._ctypes
        if len(program) % 8 or not program:
            raise SyscallError("seccomp", errno.EINVAL, f"a filter of {len(program)} bytes")

        class SockFprog(c.Structure):
            _fields_ = [("len", c.c_ushort), ("filter", c.c_void_p)]

        buf = c.create_string_buffer(program, len(program))
        prog = SockFprog(len(program) // 8, c.cast(buf, c.c_void_p))
        nr = _SYS_SECCOMP[os.uname().machine]
        ret = self._libc.syscall(c.c_long(nr), c.c_ulong(SECCOMP_SET_MODE_FILTER), c.c_ulong(flags),
                                 c.byref(prog))
        self._check(ret, "seccomp", lambda: f"SECCOMP_SET_MODE_FILTER ({len(program) // 8} instructions)")

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def chroot(self, path: str) -> None:
        try:
            os.chroot(path)
        except OSError as e:
            raise SyscallError("chroot", e.errno, path) from None

    def mknod(self, path: str, mode: int, major: int, minor: int) -> None:
        try:
            os.mknod(path, mode, os.makedev(major, minor))
            os.chmod(path, mode & 0o7777)  # mknod's mode was filtered by the umask
        except OSError as e:
            raise SyscallError("mknod", e.errno, path) from None

    # -- capabilities (capabilities(7)) ----------------------------------
    def _cap_header(self):
        c = self._ctypes
        # struct __user_cap_header_struct { __u32 version; int pid; }; pid 0 = this thread
        return (c.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)

    def capget(self) -> tuple[int, int, int]:
        data = (self._ctypes.c_uint32 * 6)()  # two struct __user_cap_data_struct {effective, permitted, inheritable}
        self._check(self._libc.capget(self._cap_header(), data), "capget")
        return tuple(data[i] | (data[i + 3] << 32) for i in range(3))

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        sets = (effective, permitted, inheritable)
        data = (self._ctypes.c_uint32 * 6)(*(v & 0xFFFFFFFF for v in sets), *(v >> 32 for v in sets))
        self._check(self._libc.capset(self._cap_header(), data), "capset",
                    lambda: f"effective={effective:#018x} permitted={permitted:#018x} inheritable={inheritable:#018x}")

    def capbset_drop(self, cap: int) -> bool:
        c = self._ctypes
        ret = self._libc.prctl(c.c_int(PR_CAPBSET_DROP), c.c_ulong(cap), c.c_ulong(0), c.c_ulong(0), c.c_ulong(0))
        if ret < 0 and c.get_errno() == 22:  # EINVAL: above cap_last_cap, a capability this kernel lacks
            return False
        self._check(ret, "prctl", f"PR_CAPBSET_DROP {cap}")
        return True

    def cap_ambient_clear(self) -> None:
        c = self._ctypes
        self._check(self._libc.prctl(c.c_int(PR_CAP_AMBIENT), c.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), c.c_ulong(0),
                                     c.c_ulong(0), c.c_ulong(0)), "prctl", "PR_CAP_AMBIENT_CLEAR_ALL")

    def set_no_new_privs(self) -> None:
        c = self._ctypes
        self._check(self._libc.prctl(c.c_int(PR_SET_NO_NEW_PRIVS), c.c_ulong(1), c.c_ulong(0), c.c_ulong(0),
                                     c.c_ulong(0)), "prctl", "PR_SET_NO_NEW_PRIVS")

    # -- bpf(2) ------------------------------------------
    def _nr(self, table: dict, name: str) -> int:
        machine = os.uname().machine
        if machine not in table:
            raise SyscallError(name, 38, f"(no syscall number known for {machine})")
        return table[machine]

    def _bpf(self, cmd: int, attr, what: str) -> int:
        c = self._ctypes
        ret = self._libc.syscall(c.c_long(self._nr(_SYS_BPF, "bpf")), c.c_int(cmd), c.byref(attr),
                                 c.c_uint(c.sizeof(attr)))
        return self._check(ret, "bpf", what)

    def bpf_prog_load(self, prog_type: int, insns: bytes, license: str = "GPL") -> int:
        import struct
        c = self._ctypes
        if len(insns) % 8:
            raise ValueError("an eBPF program is a whole number of 8-byte instructions")
        code = c.create_string_buffer(bytes(insns), len(insns))
        lic = c.create_string_buffer(license.encode())
        log = c.create_string_buffer(65536)
        # union bpf_attr, BPF_PROG_LOAD part: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
        attr = c.create_string_buffer(128)
        struct.pack_into("=IIQQIIQ", attr, 0, prog_type, len(insns) // 8, c.addressof(code), c.addressof(lic),
                         1, len(log), c.addressof(log))
        try:
            return self._bpf(BPF_PROG_LOAD, attr, f"BPF_PROG_LOAD type {prog_type}, {len(insns) // 8} insns")
        except SyscallError as e:
            verifier = log.value.decode(errors="replace").strip()
            if verifier:
                e.message = f"{e.message} (verifier: {verifier.splitlines()[-1]})"
                e.args = (e.message,)
            raise

    def bpf_prog_attach(self, target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
        import struct
        attr = self._ctypes.create_string_buffer(struct.pack("=IIII", target_fd, prog_fd, attach_type, flags), 64)
        self._bpf(BPF_PROG_ATTACH, attr, f"BPF_PROG_ATTACH type {attach_type}")


class FakeSyscalls(Syscalls):
    """A recording double: every call is appended to ``calls`` as ``(name, args)``.

    ``fail`` maps a call name to an errno, to test how the runtime reacts when
    the kernel says no::

        fake = FakeSyscalls(fail={"pivot_root": errno.EINVAL})
    """

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.fail = dict(fail or {})

    def _record(self, name: str, *args) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise SyscallError(name, self.fail[name], " ".join(str(a) for a in args))

    def unshare(self, flags): self._record("unshare", int(flags))
    def setns(self, fd, nstype=0): self._record("setns", fd, int(nstype))
    def mount(self, source, target, fstype=None, flags=0, data=None):
        self._record("mount", source, target, fstype, int(flags), data)
    def umount2(self, target, flags=0): self._record("umount2", target, int(flags))
    def clone_parent(self):
        self._record("clone_parent")
        return 4242  # a pretend pid: the fake never makes a process
    def pivot_root(self, new_root, put_old): self._record("pivot_root", new_root, put_old)
    def sethostname(self, name): self._record("sethostname", name)
    def prctl(self, option, arg2=0):
        self._record("prctl", option, arg2)
        return 0
    def set_link_up(self, ifname): self._record("set_link_up", ifname)
    def seccomp_set_mode_filter(self, program, flags=0):
        self._record("seccomp_set_mode_filter", bytes(program), int(flags))
    def chdir(self, path): self._record("chdir", path)
    def chroot(self, path): self._record("chroot", path)
    def mknod(self, path, mode, major, minor): self._record("mknod", path, mode, major, minor)

    #: What ``capget`` answers: a root process's full sets (41 capabilities), unless a test sets its own.
    caps = ((1 << 41) - 1, (1 << 41) - 1, 0)

    def capget(self):
        self._record("capget")
        return self.caps
    def capset(self, effective, permitted, inheritable):
        self._record("capset", effective, permitted, inheritable)
    def capbset_drop(self, cap):
        self._record("capbset_drop", cap)
        return cap <= 40
    def cap_ambient_clear(self): self._record("cap_ambient_clear")
    def set_no_new_privs(self): self._record("set_no_new_privs")
    def bpf_prog_load(self, prog_type, insns, license="GPL"):
        self._record("bpf_prog_load", prog_type, bytes(insns), license)
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)  # a real fd the caller may close
    def bpf_prog_attach(self, target_fd, prog_fd, attach_type, flags=0):
        self._record("bpf_prog_attach", target_fd, prog_fd, attach_type, flags)

    def names(self) -> list[str]:
        """Just the call names, in order: handy in asserts."""
        return [name for name, _ in self.calls]


_real: LinuxSyscalls | None = None


def linux() -> LinuxSyscalls:
    """The process-wide real syscall layer, created on first use."""
    global _real
    if _real is None:
        _real = LinuxSyscalls()
    return _real
