"""config.json <-> ContainerConfig (minictr.oci.spec): real bundles load, round trips, errors name the field.

The fixtures are real documents captured on the lab machine: ``runc spec``,
``runc spec --rootless``, and two config.json files podman 4.3 handed to its
runtime (a wrapper that copied the bundle's config.json, then exec'd runc):
``podman run --rm --rootfs DIR true`` and the same with ``--network none
--memory 64m --pids-limit 50 --cap-drop NET_RAW --user 1000:1000 --group-add 10
--sysctl net.ipv4.ping_group_range="0 0"``.
"""

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from minictr.config import ContainerConfig, Rootfs, Security
from minictr.errors import ConfigError, SpecError
from minictr.oci import spec
from minictr.oci.emit import OCI_NAMESPACE
from minictr.security import capabilities, devices, seccomp_cache

HERE = Path(__file__).parent


def fixture(name: str) -> dict:
    return json.loads((HERE / f"{name}.config.json").read_text())


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def podman_doc(name: str, bundle: Path) -> dict:
    """A captured podman document, its host paths pointed at files of this test (they were podman's temp files)."""
    doc = fixture(name)
    doc["root"]["path"] = str(bundle / "rootfs")
    for ns in doc["linux"]["namespaces"]:
        if "path" in ns:
            ns["path"] = "/proc/self/ns/net"  # it was podman's /run/netns/netns-...: gone now
    return doc


# ------------------------------------------------------------------ real documents load
def test_runc_spec_output_loads(bundle):
    if shutil.which("runc"):  # the live program too, not only the captured fixture
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        live = json.loads((bundle / "config.json").read_text())
        assert live == fixture("runc-spec")
    warnings = []
    cfg = spec.from_oci(fixture("runc-spec"), str(bundle), "mybox", warnings)
    assert warnings == []
    assert cfg.args == ("sh",) and cfg.tty and cfg.hostname == "runc" and cfg.user == "0:0"
    assert cfg.rootfs == Rootfs(path=str(bundle / "rootfs"), readonly=True)
    assert cfg.namespaces == {"pid", "net", "ipc", "uts", "mount"} and cfg.join_namespaces == ()
    assert cfg.security.capabilities == ("CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE")
    assert cfg.security.cap_effective is None and cfg.security.cap_ambient == cfg.security.capabilities
    assert cfg.security.no_new_privileges and cfg.security.seccomp_filter == b""
    assert cfg.rlimits == (("RLIMIT_NOFILE", 1024, 1024),)
    assert cfg.security.masked_paths[:2] == ("/proc/acpi", "/proc/asound")
    assert "c 1:3 rwm" in cfg.security.devices and "a *:* rwm" not in cfg.security.devices
    assert [m.destination for m in cfg.spec_mounts][:3] == ["/proc", "/dev", "/dev/pts"]
    assert cfg.name == "mybox" and cfg.id == spec.config_id("mybox") and len(cfg.id) == 64


def test_runc_spec_rootless_loads_with_its_user_namespace(bundle):
    doc = fixture("runc-spec-rootless")
    if shutil.which("runc"):
        subprocess.run(["runc", "spec", "--rootless"], cwd=bundle, check=True)
        doc = json.loads((bundle / "config.json").read_text())  # the live one: its maps name our uid
    warnings = []
    cfg = spec.from_oci(doc, str(bundle), "rl", warnings)
    assert "user" in cfg.namespaces and "net" not in cfg.namespaces and cfg.network.mode == "host"
    assert cfg.uid_map == ((0, os.geteuid() if shutil.which("runc") else 0, 1),)
    assert cfg.gid_map == ((0, os.getegid() if shutil.which("runc") else 0, 1),)
    sys = next(m for m in cfg.spec_mounts if m.destination == "/sys")
    assert sys.type == "none" and "rbind" in sys.options
    assert cfg.security.devices[0] == "a *:* rwm"  # no device list: every device, as runc
    assert not any("user" in w for w in warnings)  # made, with the bundle's maps (minictr.userns)


def test_podmans_config_json_loads(bundle):
    cfg = spec.from_oci(podman_doc("podman-run", bundle), str(bundle), "21d88f794e2d" + "c" * 52)
    assert cfg.id == "21d88f794e2d" + "c" * 52  # a 64-hex id is its own config id
    assert cfg.args == ("true",) and cfg.umask == 0o22 and not cfg.tty
    assert cfg.join_namespaces == (("net", "/proc/self/ns/net"),) and "net" in cfg.namespaces
    assert cfg.cgroups_path.startswith("/libpod_parent/libpod-")
    assert dict(cfg.annotations)["io.container.manager"] == "libpod"
    assert cfg.resources.pids_limit == 2048
    assert cfg.security.capabilities == capabilities.resolve()  # docker's 14
    assert cfg.security.cap_effective is None and cfg.security.cap_permitted is None
    assert cfg.security.seccomp == "config.json" and len(cfg.security.seccomp_filter) > 100
    assert cfg.rlimits == (("RLIMIT_NOFILE", 1024, 1024), ("RLIMIT_NPROC", 1024, 1024))
    binds = [m for m in cfg.spec_mounts if m.type == "bind"]
    assert {m.destination for m in binds} >= {"/etc/hosts", "/etc/resolv.conf", "/dev/shm"}


def test_podmans_limits_become_the_same_records_as_docker_flags(bundle):
    cfg = spec.from_oci(podman_doc("podman-limits", bundle), str(bundle), "c" * 64)
    r = cfg.resources
    assert (r.memory, r.memory_swap, r.pids_limit) == (64 << 20, 128 << 20, 50)
    assert cfg.user == "1000:1000" and cfg.additional_gids == (1000, 10)
    assert cfg.sysctl == (("net.ipv4.ping_group_range", "0 0"),)
    assert "CAP_NET_RAW" not in cfg.security.capabilities
    # a non-root user with no effective set: what minictr derives (None), so it gets none
    assert cfg.security.cap_effective is None and cfg.security.cap_permitted is None
    assert "/sys/dev/block" in cfg.security.masked_paths


def test_podmans_seccomp_compiles_to_a_program_like_the_default_profiles(bundle):
    cfg = spec.from_oci(podman_doc("podman-run", bundle), str(bundle), "c" * 64)
    ours = seccomp_cache.program_for("default", capabilities.DEFAULT, cache=str(bundle / "cache"))
    assert cfg.security.seccomp_filter[:8] == ours[:8]  # the same arch check first: one compiler
    assert abs(len(cfg.security.seccomp_filter) - len(ours)) < len(ours) // 4


# ------------------------------------------------------------------ round trips
def normalized(doc: dict) -> dict:
    """What to_oci writes for ``doc``: the same, with defaults spelled out (documented in emit.py)."""
    d = copy.deepcopy(doc)
    d.pop("ociVersion")
    p = d["process"]
    p.setdefault("terminal", False)
    p.setdefault("noNewPrivileges", False)
    caps = p.setdefault("capabilities", {})
    root = p["user"]["uid"] == 0
    for key in ("bounding", "effective", "permitted"):
        caps.setdefault(key, caps["bounding"] if root and key != "bounding" else [])
        caps[key] = sorted(caps[key], key=capabilities.NUMBERS.__getitem__)
    for key in ("inheritable", "ambient"):
        if key in caps:
            caps[key] = sorted(caps[key], key=capabilities.NUMBERS.__getitem__)
    if not any(e.startswith("PATH=") for e in p["env"]):
        p["env"].append("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    d["root"].setdefault("readonly", False)
    linux = d["linux"]
    linux.setdefault("resources", {}).setdefault("devices", [{"allow": False, "access": "rwm"},
                                                             {"allow": True, "access": "rwm"}])
    linux["namespaces"] = sorted(linux["namespaces"], key=lambda n: list(OCI_NAMESPACE.values()).index(n["type"]))
    return d


def round_trip(doc: dict, bundle: Path) -> dict:
    out = spec.to_oci(spec.from_oci(doc, str(bundle), "rt"))
    out.pop("ociVersion")
    return out


@pytest.mark.parametrize("name", ["runc-spec", "runc-spec-rootless", "podman-run", "podman-limits"])
def test_to_oci_of_from_oci_gives_the_document_back(name, bundle):
    doc = podman_doc(name, bundle) if name.startswith("podman") else fixture(name)
    doc["root"]["path"] = str(bundle / "rootfs")
    assert round_trip(doc, bundle) == normalized(doc)


def test_every_field_survives_a_round_trip(bundle):
    doc = spec.default_spec()
    doc["root"]["path"] = str(bundle / "rootfs")
    doc["process"].update(consoleSize={"height": 40, "width": 120}, oomScoreAdj=500,
                          user={"uid": 0, "gid": 0, "umask": 0o27, "additionalGids": [10, 20]})
    doc["process"]["capabilities"]["inheritable"] = ["CAP_KILL"]
    doc["hooks"] = {"createRuntime": [{"path": "/bin/true", "args": ["true", "x"], "env": ["A=1"], "timeout": 5}],
                    "poststop": [{"path": "/bin/true"}]}
    doc["annotations"] = {"org.example.k": "v"}
    doc["linux"].update(
        uidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
        gidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
        devices=[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}],
        cgroupsPath="/mine/rt", sysctl={"kernel.shmmax": "65536", "net.ipv4.ip_forward": "1"},
        rootfsPropagation="rslave", personality={"domain": "LINUX32"},
        seccomp={"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                 "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})
    doc["linux"]["namespaces"].append({"type": "user"})
    doc["linux"]["namespaces"][1] = {"type": "network", "path": "/proc/self/ns/net"}
    doc["linux"]["resources"].update(memory={"limit": 1 << 26, "swap": 1 << 27}, pids={"limit": 30},
                                     cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"})
    doc["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 10, "minor": 229,
                                                 "access": "rwm"})
    assert round_trip(doc, bundle) == normalized(doc)


def test_a_minictr_config_round_trips_through_config_json(bundle):
    """run's own config -> config.json -> config: the same container (and the same seccomp program)."""
    cfg = ContainerConfig(id="a" * 64, name="web", image="busybox", rootfs=Rootfs(str(bundle / "rootfs")),
                          args=("sh", "-c", "echo hi"), env=("A=1",), hostname="web", tty=True)
    doc = spec.to_oci(cfg)
    assert doc["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]  # docker's list is implied
    assert [m["destination"] for m in doc["mounts"]][:2] == ["/proc", "/dev"]
    back = spec.from_oci(json.loads(json.dumps(doc)), str(bundle), "web")
    assert back.args == cfg.args and back.hostname == "web" and back.tty and back.namespaces == cfg.namespaces
    assert back.security.capabilities == capabilities.resolve()
    assert set(back.security.devices) == set(devices.DEFAULT)
    assert back.security.masked_paths == tuple(doc["linux"]["maskedPaths"])
    ours = seccomp_cache.program_for("default", capabilities.DEFAULT, cache=str(bundle / "cache"))
    assert back.security.seccomp_filter == ours  # docker's profile, via OCI's format, compiles the same


def test_default_spec_is_what_runc_spec_writes(bundle):
    mine, runcs = spec.default_spec(), fixture("runc-spec")
    for d in (mine, runcs):
        d.pop("ociVersion"), d.pop("hostname")
    # minictr masks runc 1.1.5's paths and one more (runc's newer /sys/devices/virtual/powercap)
    assert set(runcs["linux"].pop("maskedPaths")) < set(mine["linux"].pop("maskedPaths"))
    assert mine == runcs
    rootless = spec.default_spec(rootless=True)
    rootless["root"]["path"] = str(bundle / "rootfs")
    cfg = spec.from_oci(rootless, str(bundle), "x", [])
    assert cfg.uid_map == ((0, os.geteuid(), 1),) and "user" in cfg.namespaces


# ------------------------------------------------------------------ every error names its field
BAD = [
    (("linux", "namespaces", 2, "type"), "foo", 'linux.namespaces[2].type: "foo" is not a namespace kind'),
    (("process", "args"), [], "process.args: [] must name a command"),
    (("process", "args"), "sh", 'process.args: "sh" must be a list'),
    (("process", "cwd"), "tmp", 'process.cwd: "tmp" must be an absolute path'),
    (("process", "env", 0), "NOEQUALS", 'process.env[0]: "NOEQUALS" must look like KEY=VALUE'),
    (("process", "user", "uid"), "root", 'process.user.uid: "root" must be an integer'),
    (("process", "user", "umask"), 1000, "process.user.umask: 1000 must be from 0 to 511"),
    (("process", "capabilities", "bounding", 0), "CAP_FLY", 'process.capabilities.bounding[0]: "CAP_FLY" is not'),
    (("process", "rlimits", 0, "type"), "RLIMIT_FOO", 'process.rlimits[0].type: "RLIMIT_FOO" is not'),
    (("process", "rlimits", 0, "soft"), 4096, "process.rlimits[0].soft: 4096 must be from 0 to the hard limit"),
    (("process", "oomScoreAdj"), 5000, "process.oomScoreAdj: 5000 must be from -1000 to 1000"),
    (("process", "terminal"), "yes", 'process.terminal: "yes" must be true or false'),
    (("root", "path"), "nowhere", 'root.path: "nowhere" is not a directory'),
    (("ociVersion",), "2.0.0", 'ociVersion: "2.0.0" is not a version 1 runtime spec'),
    (("mounts", 0, "destination"), "proc", 'mounts[0].destination: "proc" must be an absolute path'),
    (("mounts", 0, "options"), ["idmap"], "mounts[0].options: [\"idmap\"] option 'idmap' is not implemented"),
    (("hooks",), {"prestop": []}, "hooks.prestop: [] is not a hook stage"),
    (("hooks",), {"poststop": [{"path": "x"}]}, 'hooks.poststop[0].path: "x" must be an absolute path'),
    (("linux", "sysctl"), {"kernel.panic": "1"}, 'linux.sysctl: "kernel.panic" is not namespaced'),
    (("linux", "rootfsPropagation"), "sideways", 'linux.rootfsPropagation: "sideways" is not a propagation type'),
    (("linux", "personality"), {"domain": "SOLARIS"}, 'linux.personality.domain: "SOLARIS" is not a personality'),
    (("linux", "namespaces", 0, "path"), "/no/such/ns", 'linux.namespaces[0].path: "/no/such/ns" does not exist'),
    (("linux", "uidMappings"), [{"containerID": 0, "hostID": 1}], "linux.uidMappings[0].size: null is missing"),
    (("linux", "devices"), [{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}],
     'linux.devices[0].path: "/etc/x" must be a path under /dev'),
    (("linux", "resources", "devices", 0), {"allow": False, "type": "c", "major": 1, "minor": 3},
     "linux.resources.devices[0]:"),
    (("linux", "resources", "cpu"), {"shares": 1}, "linux.resources.cpu.shares: 1 must be from 2 to 262144"),
    (("linux", "seccomp"), {"defaultAction": "SCMP_ACT_FOO"}, 'linux.seccomp.defaultAction: "SCMP_ACT_FOO"'),
    (("linux", "seccomp"), {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"],
                                                                           "action": "SCMP_ACT_FLY"}]},
     'linux.seccomp.syscalls[0].action: "SCMP_ACT_FLY" unknown action'),
    (("linux", "seccomp"), {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "linux.seccomp.syscalls[0].args[0].index: 9 a syscall has arguments 0 to 5"),
    (("linux", "seccomp"), {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"},
     "linux.seccomp.listenerPath"),
]


@pytest.mark.parametrize("where,value,message", BAD, ids=[".".join(map(str, b[0])) for b in BAD])
def test_an_invalid_field_is_named(where, value, message, bundle):
    doc = fixture("runc-spec")
    doc["root"]["path"] = "rootfs"
    target = doc
    for key in where[:-1]:
        target = target[key] if not isinstance(target, dict) or key in target else target.setdefault(key, {})
    target[where[-1]] = value
    with pytest.raises(SpecError) as err:
        spec.from_oci(doc, str(bundle), "bad")
    assert str(err.value).startswith("config.json: "), str(err.value)
    assert message in str(err.value)
    assert isinstance(err.value, ConfigError)


def test_an_unknown_seccomp_name_is_skipped_with_a_warning(bundle):
    doc = fixture("runc-spec")
    doc["root"]["path"] = "rootfs"
    doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdri", "mkdir"], "action": "SCMP_ACT_ERRNO"}, {"names": ["nosuch"], "action": "SCMP_ACT_ERRNO"}]}
    warnings = []
    cfg = spec.from_oci(doc, str(bundle), "s", warnings)
    assert warnings == ["config.json: linux.seccomp.syscalls[0].names[0]: 'mkdri' is no syscall minictr knows: skipped",
                        "config.json: linux.seccomp.syscalls[1].names[0]: 'nosuch' is no syscall minictr knows: skipped"]
    assert cfg.security.seccomp_filter and json.loads(cfg.security.seccomp_spec) == doc["linux"]["seccomp"]


def test_a_namespaced_sysctl_needs_that_namespace(bundle):
    doc = fixture("runc-spec-rootless")  # no network namespace of its own
    doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    with pytest.raises(SpecError, match=r"linux\.sysctl: .*needs the container's own net namespace"):
        spec.from_oci(doc, str(bundle), "x")


def test_a_hostname_needs_a_uts_namespace_and_a_relative_bind_is_in_the_bundle(bundle):
    doc = fixture("runc-spec")
    doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n["type"] != "uts"]
    with pytest.raises(SpecError, match=r'^config.json: hostname: "runc" needs a uts namespace'):
        spec.from_oci(doc, str(bundle), "x")
    doc = fixture("runc-spec")
    doc["mounts"].append({"destination": "/data", "type": "bind", "source": "data", "options": ["rbind"]})
    cfg = spec.from_oci(doc, str(bundle), "x")
    assert cfg.spec_mounts[-1].source == str(bundle / "data")


def test_load_bundle_reads_and_names_a_broken_file(bundle):
    (bundle / "config.json").write_text(json.dumps(fixture("runc-spec")))
    assert spec.load_bundle(str(bundle), "ok").args == ("sh",)
    (bundle / "config.json").write_text("{not json")
    with pytest.raises(SpecError, match="is not JSON"):
        spec.load_bundle(str(bundle), "ok")
    with pytest.raises(SpecError, match="cannot be read"):
        spec.load_bundle(str(bundle / "nowhere"), "ok")


def test_ignored_fields_are_warned_about_not_printed(bundle, capsys):
    doc = fixture("runc-spec")
    doc["process"]["apparmorProfile"] = "docker-default"
    doc["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    doc["linux"]["intelRdt"] = {"closID": "x"}
    warnings = []
    spec.from_oci(doc, str(bundle), "w", warnings)
    assert [w.split(":")[1].strip() for w in warnings] == ["process.apparmorProfile", "process.selinuxLabel",
                                                           "linux.intelRdt"]
    said = []
    spec.from_oci(doc, str(bundle), "w", said.append)  # a callback works too
    assert said == warnings
    assert capsys.readouterr() == ("", "")


def test_config_validate_refuses_a_host_wide_sysctl():
    cfg = ContainerConfig(id="b" * 64, name="x", image="", rootfs=Rootfs("/"), args=("true",),
                          sysctl=(("vm.swappiness", "10"),))
    with pytest.raises(ConfigError, match="not namespaced"):
        cfg.validate()
    ok = ContainerConfig(id="b" * 64, name="x", image="", rootfs=Rootfs("/"), args=("true",),
                         sysctl=(("net.ipv4.ip_forward", "1"),), security=Security())
    assert ok.validate() is ok


def test_with_process_reads_a_process_json_for_exec(bundle):
    cfg = spec.from_oci(fixture("runc-spec"), str(bundle), "x")
    other = spec.with_process(cfg, {"args": ["ls", "/"], "cwd": "/tmp", "env": ["A=1"], "terminal": False,
                                    "user": {"uid": 1000, "gid": 1000, "additionalGids": [5]},
                                    "capabilities": {"bounding": ["CAP_KILL"]}})
    assert (other.args, other.cwd, other.env, other.user, other.additional_gids) == \
        (("ls", "/"), "/tmp", ("A=1",), "1000:1000", (5,))
    assert other.security.capabilities == ("CAP_KILL",) and other.security.cap_effective is None
    assert other.namespaces == cfg.namespaces and other.rootfs == cfg.rootfs
    with pytest.raises(SpecError, match=r"process\.cwd: \"rel\" must be an absolute path"):
        spec.with_process(cfg, {"args": ["ls"], "cwd": "rel"})
