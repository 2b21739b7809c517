"""config.json's ``linux.seccomp`` <-> docker's profile format, and one compiler for both.

OCI's format (config-linux.md, "Seccomp") is docker's without ``includes`` and
``excludes``: docker resolves those for the container's capabilities and
architecture when it writes config.json. So:

- ``compile_oci``: OCI -> ``security.seccomp_profile.parse`` -> ``security.seccomp.compile``,
  the same compiler ``minictr run`` uses (no second one);
- ``profile_to_oci``: a docker profile (the default one, or a file) -> the OCI
  document, with the rules that apply to ``caps`` and this machine, as docker does.

``flags`` (SECCOMP_FILTER_FLAG_*) other than LOG and SPEC_ALLOW are refused;
``listenerPath`` is refused (minictr runs no notify listener).

Man pages: seccomp(2), seccomp_rule_add(3).
"""

from __future__ import annotations

import os

from ..errors import ConfigError, SpecError

_OCI_TOP = ("defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata",
            "syscalls")
_OCI_RULE = ("names", "action", "errnoRet", "args")
#: flags that change nothing about which calls the filter allows
_HARMLESS_FLAGS = ("SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")


def compile_oci(doc: dict, caps, reader=None, arch: str | None = None, *,
                cache: str | None = None) -> tuple[str, bytes]:
    """``(JSON text, BPF program)`` of a linux.seccomp object. Raises SpecError naming the field.

    The text is the document's compact JSON, in its own key order (``leanjson``).
    ``cache``: the compiled programs' dir (default: ``seccomp_cache.cache_dir()``).
    """
    where = "linux.seccomp"
    for key in doc:
        if key not in _OCI_TOP:
            raise SpecError(f"{where}.{key}", doc[key], "is not a seccomp field", hint=", ".join(_OCI_TOP))
    if doc.get("listenerPath"):
        raise SpecError(f"{where}.listenerPath", doc["listenerPath"], "is not supported: minictr runs no "
                        "seccomp notify listener")
    flags = doc.get("flags") or []
    if not isinstance(flags, list):
        raise SpecError(f"{where}.flags", flags, "must be a list")
    for i, flag in enumerate(flags):
        if flag not in _HARMLESS_FLAGS:
            raise SpecError(f"{where}.flags[{i}]", flag, "is not supported by minictr",
                            hint="SECCOMP_FILTER_FLAG_LOG and SECCOMP_FILTER_FLAG_SPEC_ALLOW are accepted (and ignored)")
    for i, rule in enumerate(doc.get("syscalls") or []):
        if isinstance(rule, dict):
            for key in rule:
                if key not in _OCI_RULE:
                    raise SpecError(f"{where}.syscalls[{i}].{key}", rule[key], "is not a seccomp rule field",
                                    hint=", ".join(_OCI_RULE))
    # The compile is cached (security.seccomp_cache): podman sends the same profile to every
    # create, and compiling it cost ~46 ms of each. The key is the document's own JSON text.
    from ..leanjson import dumps
    from ..security.seccomp_cache import oci_program
    text = dumps(doc)
    program, notes = oci_program(text, caps, arch or os.uname().machine,
                                 lambda: _compile(doc, caps, arch), sources=(__file__,), cache=cache)
    if reader is not None:
        for field, why in notes:
            reader.warn(field, why)
    return text, program


def _compile(doc: dict, caps, arch: str | None) -> tuple[bytes, list]:
    """``(program, notes)``: compile_oci's miss (notes: the ``[field, why]`` of each skipped name)."""
    from ..security import seccomp, seccomp_profile

    where = "linux.seccomp"
    notes: list = []
    docker = {k: v for k, v in doc.items() if k in ("defaultAction", "defaultErrnoRet", "architectures", "syscalls")}
    if isinstance(docker.get("syscalls"), list):
        docker["syscalls"] = _first_rule_wins(_known_names_only(docker["syscalls"], notes),
                                              docker.get("defaultAction"), docker.get("defaultErrnoRet"))
    try:
        profile = seccomp_profile.parse(docker, "config.json")
        program = seccomp.compile(profile, caps, arch)
    except SpecError:
        raise
    except ConfigError as e:
        # seccomp_profile names the field inside the profile ("syscalls[3].action")
        raise SpecError(f"{where}.{e.value}" if e.field == "seccomp profile field" else where, doc.get("syscalls")
                        if e.field != "seccomp profile field" else _value_at(docker, str(e.value)),
                        e.message.split(": ", 1)[-1], hint=e.hint) from None
    return program, notes


def _known_names_only(rules: list, notes: list) -> list:
    """The rules without the syscall names no architecture we know has (a rule left with none goes).

    Why not refuse them, as ``--security-opt seccomp=FILE`` does: podman's own profile
    names calls of other machines (``pciconfig_iobase`` is alpha's and powerpc's), and
    runc, through libseccomp, skips a name it cannot resolve. Each one is noted (create warns).
    """
    from ..security.seccomp_profile import _known_anywhere
    out = []
    for i, rule in enumerate(rules):
        names = rule.get("names") if isinstance(rule, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            out.append(rule)  # the parser names what is wrong with it
            continue
        known = [n for n in names if _known_anywhere(n)]
        for j, n in enumerate(names):
            if n not in known:
                notes.append([f"linux.seccomp.syscalls[{i}].names[{j}]", f"{n!r} is no syscall minictr knows: skipped"])
        if known:
            out.append({**rule, "names": known})
    return out


def _first_rule_wins(rules: list, default_action, default_errno) -> list:
    """Leave out a syscall from an unconditional rule when an earlier one already decided it.

    podman's profile allows ``setns`` in its big allow rule and denies it again further
    down; libseccomp keeps the first unconditional rule for a syscall (runc adds them in
    order), while our compiler refuses the conflict in a profile given by hand. A rule
    whose action is the default one is skipped by runc and by the compiler alike, so it
    decides nothing here either.
    """
    from ..security.seccomp import verdict
    try:
        default = verdict(default_action, default_errno)
    except KeyError:
        return rules  # the parser names the bad action
    decided: set[str] = set()
    out = []
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("args") or not isinstance(rule.get("names"), list):
            out.append(rule)
            continue
        try:
            if verdict(rule.get("action"), rule.get("errnoRet")) == default:
                out.append(rule)
                continue
        except (KeyError, TypeError):
            out.append(rule)
            continue
        names = [n for n in rule["names"] if n not in decided]
        decided.update(names)
        if names:
            out.append({**rule, "names": names})
    return out


def _value_at(doc, path: str):
    """The value at ``syscalls[3].names[0]`` in ``doc``, for the error message (None if not there)."""
    value = doc
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        try:
            value = value[int(part[1:-1])] if part.startswith("[") else value[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return value


def profile_to_oci(setting: str, caps, arch: str | None = None) -> dict | None:
    """The OCI linux.seccomp for ``--security-opt seccomp=SETTING`` ("default", "unconfined", a path).

    Only rules that apply to ``caps``, the arch and this kernel are kept, without
    includes/excludes, in profile order: compiling the result gives the same program.
    """
    if setting in (None, "unconfined"):
        return None
    from ..security import seccomp, seccomp_profile
    from ..security.seccomp_cache import DEFAULT_PROFILE

    import json
    path = DEFAULT_PROFILE if setting == "default" else setting
    with open(path, "rb") as f:
        raw = json.loads(f.read())
    profile = seccomp_profile.parse(raw, path)
    arch = arch or os.uname().machine
    go_arch, _table = seccomp_profile.target(arch)
    have = seccomp_profile.normalize_caps(caps)
    kernel = seccomp.kernel_version()
    native = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}[arch]
    arches = [native]
    for m in raw.get("archMap") or []:
        if m.get("architecture") == native:
            arches += [a for a in m.get("subArchitectures") or [] if a not in arches]
    out: dict = {"defaultAction": profile.default_action}
    if profile.default_errno is not None:
        out["defaultErrnoRet"] = profile.default_errno
    out["architectures"] = arches
    rules = []
    for rule in profile.rules:
        if not rule.applies(have, go_arch, kernel):
            continue
        item: dict = {"names": list(rule.names), "action": rule.action}
        if rule.errno is not None:
            item["errnoRet"] = rule.errno
        if rule.args:
            item["args"] = [{"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}
                            for a in rule.args]
        rules.append(item)
    out["syscalls"] = rules
    return out
