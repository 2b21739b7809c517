"""docker's seccomp profile format: parse, validate, and select the rules that apply.

Man pages: seccomp(2), seccomp_rule_add(3) (the actions and comparison operators),
seccomp_arch_add(3). The format is docker's (moby ``profiles/seccomp``)::

    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
     "architectures": ["SCMP_ARCH_X86_64"],                          # or "archMap": [...]
     "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                   "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
                   "includes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["amd64"], "minKernel": "4.8"},
                   "excludes": {"caps": [...], "arches": [...]}}]}

What we refuse and what we skip, and why:

- Refused (``ConfigError``, one line naming the field): a file that is not JSON or not
  this shape, an unknown key (a typo such as ``"syscall"`` would otherwise silently
  allow everything), an unknown action or operator, ``SCMP_ACT_NOTIFY`` (needs a
  listener we do not run), an argument index outside 0..5, a value outside u64, an
  unknown architecture name, and a syscall name that exists on NO architecture we
  know of: that is a typo, and a typo in a deny rule would quietly deny nothing.
- Skipped silently: a name that is a real syscall somewhere, but not on the target
  architecture (docker's own profile lists ``chown32``, ``arm_fadvise64_64``,
  ``s390_pci_mmio_read`` ... for every machine). runc does the same: libseccomp
  cannot resolve them for the native arch, and runc ignores them. The list of such names
  is ``syscall_tables.OTHER_ARCH_NAMES`` (i386, x32, 32-bit generic, a few hand-listed
  arch-specific calls, and calls newer than the kernel headers the tables come from).
- ``architectures``/``archMap`` are validated but only the target (native) architecture
  is compiled: a call made through another ABI (i386 ``int 0x80``, x32) fails the arch check.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from . import syscall_tables

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW")
OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
       "SCMP_CMP_MASKED_EQ")
SCMP_ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
               "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
               "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
               "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
               "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
               "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB")
#: the arch names of includes/excludes are Go's (runtime.GOARCH), as docker matches them
GO_ARCHES = ("386", "amd64", "x32", "arm", "arm64", "mips", "mipsle", "mips64", "mips64le",
             "mips64n32", "mipsel64n32", "ppc", "ppc64", "ppc64le", "s390", "s390x", "parisc",
             "parisc64", "riscv64", "loong64", "x86", "m68k", "sh", "sheb")
#: the architectures we compile for: uname -m -> (Go name, syscall table)
TARGETS = {"x86_64": ("amd64", syscall_tables.X86_64), "aarch64": ("arm64", syscall_tables.AARCH64)}
EPERM = 1

_TOP_KEYS = {"defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", "comment"}
_RULE_KEYS = {"names", "name", "action", "errnoRet", "args", "includes", "excludes", "comment"}
_ARG_KEYS = {"index", "value", "valueTwo", "op"}


@dataclass(frozen=True)
class Arg:
    index: int
    value: int
    value_two: int
    op: str


@dataclass(frozen=True)
class Rule:
    names: tuple[str, ...]
    action: str
    errno: int | None          # errnoRet (ERRNO: the errno; TRACE: the tracer's message)
    args: tuple[Arg, ...]
    includes_caps: tuple[str, ...] = ()
    includes_arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None
    excludes_caps: tuple[str, ...] = ()
    excludes_arches: tuple[str, ...] = ()

    def applies(self, caps: frozenset[str], go_arch: str, kernel: tuple[int, int]) -> bool:
        """docker's selection: every included cap present, no excluded cap present, the arch
        listed (if a list is given) and not excluded, the kernel at least minKernel."""
        if any(c not in caps for c in self.includes_caps):
            return False
        if any(c in caps for c in self.excludes_caps):
            return False
        if self.includes_arches and go_arch not in self.includes_arches:
            return False
        if go_arch in self.excludes_arches:
            return False
        return self.min_kernel is None or kernel >= self.min_kernel


@dataclass(frozen=True)
class Profile:
    default_action: str
    default_errno: int | None
    architectures: tuple[str, ...]
    rules: tuple[Rule, ...]


def load(path: str) -> Profile:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError("seccomp profile", path, e.strerror or str(e),
                          hint="give the path of a JSON profile, or seccomp=unconfined") from None
    return parse_bytes(raw, path)


def parse_bytes(raw: bytes, source: str = "profile") -> Profile:
    import json
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError("seccomp profile", source, f"not JSON: {e}") from None
    return parse(data, source)


def parse(data: object, source: str = "profile") -> Profile:
    """Validate docker's profile structure into records. Errors name the field, e.g.
    ``invalid seccomp profile field syscalls[3].args[0].op 'SCMP_CMP_FOO': ...``."""
    def bad(field: str, value: object, why: str, hint: str | None = None):
        return ConfigError("seccomp profile field", f"{field}", f"{why} (value {value!r}, in {source})",
                           hint=hint)

    if not isinstance(data, dict):
        raise bad("(top)", type(data).__name__, "a profile is a JSON object")
    _no_unknown_keys(data, _TOP_KEYS, "", bad)
    default_action = _action(data.get("defaultAction"), "defaultAction", bad)
    default_errno = _u16(data.get("defaultErrnoRet"), "defaultErrnoRet", bad)
    arches = []
    for i, a in enumerate(_list(data.get("architectures", []), "architectures", bad)):
        arches.append(_scmp_arch(a, f"architectures[{i}]", bad))
    for i, m in enumerate(_list(data.get("archMap", []) or [], "archMap", bad)):
        if not isinstance(m, dict):
            raise bad(f"archMap[{i}]", m, "must be an object")
        arches.append(_scmp_arch(m.get("architecture"), f"archMap[{i}].architecture", bad))
        for j, s in enumerate(_list(m.get("subArchitectures", []) or [], f"archMap[{i}].subArchitectures", bad)):
            arches.append(_scmp_arch(s, f"archMap[{i}].subArchitectures[{j}]", bad))
    rules = tuple(_rule(r, f"syscalls[{i}]", bad)
                  for i, r in enumerate(_list(data.get("syscalls", []) or [], "syscalls", bad)))
    return Profile(default_action, default_errno, tuple(arches), rules)


def _rule(r: object, where: str, bad) -> Rule:
    if not isinstance(r, dict):
        raise bad(where, r, "a rule is a JSON object")
    _no_unknown_keys(r, _RULE_KEYS, where + ".", bad)
    names = r.get("names")
    if names is None and "name" in r:    # the old single-name form
        names = [r["name"]]
    names = _list(names, f"{where}.names", bad)
    if not names:
        raise bad(f"{where}.names", names, "a rule names at least one syscall")
    for j, name in enumerate(names):
        if not isinstance(name, str) or not _known_anywhere(name):
            raise bad(f"{where}.names[{j}]", name, "no such syscall on any architecture",
                      hint="check the spelling against the syscalls(2) man page")
    action = _action(r.get("action"), f"{where}.action", bad)
    errno = _u16(r.get("errnoRet"), f"{where}.errnoRet", bad)
    args = tuple(_arg(a, f"{where}.args[{j}]", bad)
                 for j, a in enumerate(_list(r.get("args", []) or [], f"{where}.args", bad)))
    inc = _obj(r.get("includes"), f"{where}.includes", {"caps", "arches", "minKernel"}, bad)
    exc = _obj(r.get("excludes"), f"{where}.excludes", {"caps", "arches", "minKernel"}, bad)
    if exc.get("minKernel"):
        raise bad(f"{where}.excludes.minKernel", exc["minKernel"], "docker has no excludes.minKernel")
    return Rule(tuple(names), action, errno, args,
                _caps(inc.get("caps"), f"{where}.includes.caps", bad),
                _go_arches(inc.get("arches"), f"{where}.includes.arches", bad),
                _kernel(inc.get("minKernel"), f"{where}.includes.minKernel", bad),
                _caps(exc.get("caps"), f"{where}.excludes.caps", bad),
                _go_arches(exc.get("arches"), f"{where}.excludes.arches", bad))


def _arg(a: object, where: str, bad) -> Arg:
    if not isinstance(a, dict):
        raise bad(where, a, "an argument filter is a JSON object")
    _no_unknown_keys(a, _ARG_KEYS, where + ".", bad)
    index = a.get("index")
    if type(index) is not int or not 0 <= index <= 5:
        raise bad(f"{where}.index", index, "a syscall has arguments 0 to 5")
    op = a.get("op")
    if op not in OPS:
        raise bad(f"{where}.op", op, "unsupported operator", hint="use one of " + ", ".join(OPS))
    return Arg(index, _u64(a.get("value"), f"{where}.value", bad),
               _u64(a.get("valueTwo", 0), f"{where}.valueTwo", bad), op)


def normalize_caps(caps) -> frozenset[str]:
    """{"sys_admin", "CAP_CHOWN"} -> {"CAP_SYS_ADMIN", "CAP_CHOWN"}."""
    return frozenset(c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper() for c in caps)


def resolve(names: tuple[str, ...], arch: str) -> list[tuple[str, int]]:
    """(name, number) for the names that exist on ``arch``; the others are skipped (see above)."""
    table = target(arch)[1]
    return [(n, table[n]) for n in names if n in table]


def target(arch: str) -> tuple[str, dict[str, int]]:
    try:
        return TARGETS[arch]
    except KeyError:
        raise ConfigError("seccomp architecture", arch, "not supported",
                          hint="minictr compiles seccomp filters for " + " and ".join(TARGETS)) from None


def _known_anywhere(name: str) -> bool:
    return (name in syscall_tables.X86_64 or name in syscall_tables.AARCH64
            or name in syscall_tables.OTHER_ARCH_NAMES)


def _no_unknown_keys(d: dict, known: set[str], prefix: str, bad) -> None:
    for key in d:
        if key not in known:
            raise bad(prefix + str(key), d[key], "unknown key",
                      hint="known here: " + ", ".join(sorted(known)))


def _action(v, field, bad) -> str:
    if v == "SCMP_ACT_NOTIFY":
        raise bad(field, v, "unsupported action: minictr runs no seccomp notify listener")
    if v not in ACTIONS:
        raise bad(field, v, "unknown action", hint="use one of " + ", ".join(ACTIONS))
    return v


def _list(v, field, bad) -> list:
    if v is None or not isinstance(v, list):
        raise bad(field, v, "must be a JSON list")
    return v


def _obj(v, field, keys, bad) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise bad(field, v, "must be a JSON object")
    _no_unknown_keys(v, keys, field + ".", bad)
    return v


def _u16(v, field, bad) -> int | None:
    if v is None:
        return None
    if type(v) is not int or not 0 <= v <= 0xFFFF:
        raise bad(field, v, "must be an integer from 0 to 65535")
    return v


def _u64(v, field, bad) -> int:
    if type(v) is not int or not 0 <= v < 1 << 64:
        raise bad(field, v, "must be an integer from 0 to 2**64-1")
    return v


def _scmp_arch(v, field, bad) -> str:
    if v not in SCMP_ARCHES:
        raise bad(field, v, "unknown architecture", hint="use SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...")
    return v


def _go_arches(v, field, bad) -> tuple[str, ...]:
    out = tuple(_list(v or [], field, bad))
    for a in out:
        if a not in GO_ARCHES:
            raise bad(field, a, "unknown architecture", hint="docker's names: amd64, arm64, x86, ...")
    return out


def _caps(v, field, bad) -> tuple[str, ...]:
    out = tuple(_list(v or [], field, bad))
    for c in out:
        if not isinstance(c, str) or not c.startswith("CAP_") or not c[4:].replace("_", "").isalnum():
            raise bad(field, c, "not a capability name", hint="write it as CAP_SYS_ADMIN")
    return out


def _kernel(v, field, bad) -> tuple[int, int] | None:
    if not v:
        return None
    parts = str(v).split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise bad(field, v, "must be MAJOR.MINOR, e.g. 4.8")
    return int(parts[0]), int(parts[1])
