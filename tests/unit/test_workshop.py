"""workshop/: the user list, the hub's config as JupyterHub reads it, the installer's plan, the
progress table, cloud-init, and the Zero to JupyterHub values against what the guide says.
(The hub itself runs in tests/integration/test_workshop_hub.py; Kubernetes cannot run here.)"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from minictr.labs import checks, progress
from scriptload import load_script

REPO = Path(__file__).resolve().parents[2]
WS = REPO / "workshop"
GUIDE = (WS / "README.md").read_text()


def load(name: str):
    sys.path.insert(0, str(WS))
    return load_script(f"workshop/{name}.py", f"workshop_{name}")


roster = load("roster")
install_hub = load("install_hub")
subgroup = load("subgroup")


# ---- the user list ---------------------------------------------------------------------

def test_the_user_list_names_passwords_and_instructors():
    people = roster.parse("# the room\n@tim\nada\n\ngrace  s3cret   # a comment\n")
    assert people == [roster.Participant("tim", None, True), roster.Participant("ada"),
                      roster.Participant("grace", "s3cret")]
    assert [p.name for p in roster.read(str(WS / "users.txt"))] == ["instructor", "learner01", "learner02", "learner03"]


@pytest.mark.parametrize("text, words", [
    ("Ada\n", "'Ada' is not a Unix user name"),
    ("ada\nada\n", "'ada' is listed twice"),
    ("ada pw extra\n", "has 3 fields"),
    ("9lives\n", "start with a lower-case letter"),
    ("a" * 33 + "\n", "32 at most"),
])
def test_a_bad_line_says_which_and_why(text, words):
    with pytest.raises(roster.RosterError) as e:
        roster.parse(text, "users.txt")
    assert str(e.value).startswith("users.txt:") and words in str(e.value)


# ---- the hub's config, as JupyterHub's loader runs it ------------------------------------

def hub_config(tmp_path, monkeypatch, **env):
    from traitlets.config import Config
    users = tmp_path / "users.txt"
    users.write_text("@tim\nada\ngrace\n")
    for key in [k for k in __import__("os").environ if k.startswith("MINICTR_HUB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MINICTR_HUB_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MINICTR_HUB_USERS", str(users))
    for key, value in env.items():
        monkeypatch.setenv(f"MINICTR_HUB_{key}", value)
    c = Config()
    namespace = {"get_config": lambda: c, "__file__": str(WS / "jupyterhub_config.py")}
    exec(compile((WS / "jupyterhub_config.py").read_text(), "jupyterhub_config.py", "exec"), namespace)
    return c, namespace


def test_the_config_on_a_host_without_systemd(tmp_path, monkeypatch):
    c, ns = hub_config(tmp_path, monkeypatch, SPAWNER="local", API_TOKEN="t0k")
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.LocalProcessSpawner"
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.Authenticator.allowed_users == {"tim", "ada", "grace"} and c.Authenticator.admin_users == {"tim"}
    assert c.JupyterHub.bind_url == "http://:8000" and c.JupyterHub.hub_bind_url == "http://127.0.0.1:8081"
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path}/state/jupyterhub.sqlite"
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert c.Spawner.cmd == [f"{sys.prefix}/bin/jupyterhub-singleuser"]
    assert c.Spawner.environment == {"MINICTR_CHECK_LOG": "~/.local/state/minictr/checks.jsonl"}
    assert c.Spawner.pre_spawn_hook is ns["prepare_home"]
    assert c.JupyterHub.services == [{"name": "workshop-admin", "api_token": "t0k"}]
    assert c.JupyterHub.load_roles[0]["scopes"] == ["admin:users", "admin:servers", "access:servers"]
    assert c.ConfigurableHTTPProxy.should_start is True and c.Spawner.start_timeout == 120


def test_a_proxy_of_its_own_and_a_slow_machine(tmp_path, monkeypatch):
    c, _ns = hub_config(tmp_path, monkeypatch, SPAWNER="local", PROXY_EXTERNAL="1", START_TIMEOUT="900")
    assert c.ConfigurableHTTPProxy.should_start is False and c.Spawner.start_timeout == 900


def test_the_config_where_systemd_is_pid_1(tmp_path, monkeypatch):
    c, _ns = hub_config(tmp_path, monkeypatch, SPAWNER="systemd", MEM="768M", AUTH="shared",
                        SHARED_PASSWORD="room", ADMIN_PASSWORD="teacher")
    assert c.JupyterHub.spawner_class == "systemdspawner.SystemdSpawner"
    assert c.SystemdSpawner.unit_extra_properties == {"Delegate": "yes"}
    assert (c.SystemdSpawner.mem_limit, c.SystemdSpawner.cpu_limit) == ("768M", 1.0)
    assert c.SystemdSpawner.disable_user_sudo is False
    # the server starts in a leaf of the unit's delegated group (subgroup.py), then execs as before
    assert c.Spawner.cmd == [sys.executable, str(WS / "subgroup.py"), f"{sys.prefix}/bin/jupyterhub-singleuser"]
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "room"
    assert "services" not in c.JupyterHub  # no token: no service


def test_auto_picks_the_spawner_from_pid_1(tmp_path, monkeypatch):
    _c, ns = hub_config(tmp_path, monkeypatch, SPAWNER="local")
    comm, booted = tmp_path / "comm", tmp_path / "systemd"
    comm.write_text("systemd\n")
    assert ns["systemd_is_pid1"](str(comm), str(booted)) is False      # no /run/systemd/system
    booted.mkdir()
    assert ns["systemd_is_pid1"](str(comm), str(booted)) is True
    comm.write_text("tini\n")
    assert ns["systemd_is_pid1"](str(comm), str(booted)) is False
    assert ns["systemd_is_pid1"](str(tmp_path / "gone"), str(booted)) is False
    assert [ns["spawner_kind"]("auto", b) for b in (True, False)] == ["systemd", "local"]
    with pytest.raises(ValueError, match="choose auto, systemd or local"):
        ns["spawner_kind"]("kube", True)


def test_every_setting_the_installer_writes_is_one_the_config_reads():
    lay = install_hub.Layout("/opt/x")
    written = {line.split("=", 1)[0] for line in install_hub.env_text(lay, "http://:8000", "local").splitlines()}
    config = (WS / "jupyterhub_config.py").read_text()
    assert written and all(f'env("{key}")' in config for key in written)
    unit = install_hub.unit_text(lay)
    assert "EnvironmentFile=/opt/x/hub.env" in unit
    assert "ExecStart=/opt/x/venv/bin/jupyterhub -f /opt/x/src/workshop/jupyterhub_config.py" in unit


# ---- the installer's plan ----------------------------------------------------------------

def test_subordinate_ranges_never_overlap(tmp_path):
    subuid = tmp_path / "subuid"
    subuid.write_text("ada:100000:65536\n# junk\ngrace:231072:65536\n")
    ranges = install_hub.subid_ranges(str(subuid))
    assert ranges == {"ada": (100000, 65536), "grace": (231072, 65536)}
    assert install_hub.next_free_subid(ranges) == 296608
    assert install_hub.next_free_subid({}) == 100000
    assert install_hub.subid_ranges(str(tmp_path / "none")) == {}


def test_the_plan_runs_only_what_is_not_done(tmp_path):
    ran = []
    steps = [install_hub.Step("one", lambda: True, lambda: ran.append("one")),
             install_hub.Step("two", lambda: False, lambda: ran.append("two"))]
    out = io.StringIO()
    assert install_hub.apply(steps, dry_run=True, out=out) == 1 and ran == []
    assert out.getvalue().splitlines() == ["  ok    one", "  would two"]
    assert install_hub.apply(steps, out=io.StringIO()) == 1 and ran == ["two"]


def test_a_dry_run_lists_every_step_and_changes_nothing(tmp_path, capsys):
    users = tmp_path / "users.txt"
    users.write_text("ada\n@tim\n")
    prefix = Path(f"/nonexistent-minictr-{tmp_path.name}/hub")  # pytest's tmp dirs are 0700: closed to users
    assert install_hub.main(["--dry-run", "--prefix", str(prefix), "--users", str(users),
                             "--spawner", "local"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not prefix.parent.exists()
    assert any("copy this checkout" in line for line in lines)
    assert any("configurable-http-proxy from the npm registry" in line for line in lines)
    assert sum("create Unix user" in line for line in lines) == 2
    assert lines[-1] == "  would start (or restart) the hub in the background"


def test_the_prefix_must_be_reachable_by_participants(tmp_path, capsys):
    closed = tmp_path / "closed"
    (closed / "a").mkdir(parents=True)
    closed.chmod(0o700)
    tmp_path.chmod(0o755)
    assert install_hub.unsearchable_parent(str(closed / "a" / "hub")) == str(closed)
    assert install_hub.unsearchable_parent("/opt/minictr-hub") is None
    users = tmp_path / "users.txt"
    users.write_text("ada\n")
    assert install_hub.main(["--dry-run", "--prefix", str(closed / "a" / "hub"), "--users", str(users)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"chmod o+x {closed}" in err


def test_the_vm_and_the_test_get_the_same_proxy():
    """configurable-http-proxy 4: 5.x needs Node 20, and Debian 12 ships 18."""
    makefile = (REPO / "Makefile").read_text()
    assert f"CHP_SPEC   := {install_hub.CHP_SPEC}\n" in makefile and install_hub.CHP_SPEC.endswith("@4")


def test_a_bad_user_list_is_one_line(tmp_path, capsys):
    users = tmp_path / "users.txt"
    users.write_text("Ada\n")
    assert install_hub.main(["--dry-run", "--users", str(users)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


# ---- the check log and the progress table ------------------------------------------------

def test_check_appends_its_result_to_the_log_only_when_asked(tmp_path, monkeypatch, capsys):
    log = tmp_path / "state" / "checks.jsonl"
    monkeypatch.delenv(progress.LOG_ENV, raising=False)
    checks.check("00.ns_differences", None)
    assert not log.exists()
    monkeypatch.setenv(progress.LOG_ENV, str(log))
    checks.check("00.ns_differences", None)
    checks.check("00.ns_differences", checks.get("00.ns_differences").reference())
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["exercise"], e["status"]) for e in entries] == [
        ("00.ns_differences", "not written"), ("00.ns_differences", "passed")]
    assert entries[1]["passed"] == entries[1]["total"] > 0
    assert log.stat().st_mode & 0o777 == 0o600


def test_a_log_that_cannot_be_written_does_not_break_the_notebook(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(progress.LOG_ENV, str(tmp_path / "file" / "checks.jsonl"))  # a file as a dir
    checks.check("00.ns_differences", None)
    assert "no function given" in capsys.readouterr().out


def entry(t, exercise, status):
    return {"t": t, "exercise": exercise, "status": status, "passed": 0, "total": 3}


def test_the_table_says_who_is_stuck_where():
    logs = {
        "grace": [entry(100, "00.a", "not written")],
        "ada": [entry(10, "00.a", "failed"), entry(20, "00.a", "passed"), entry(30, "01.b", "failed"),
                entry(40, "01.b", "failed"), entry(50, "01.b", "failed")],
        "tim": [],
    }
    lines = progress.table(logs, now=170)
    assert lines[0].split() == ["user", "00.a", "01.b", "last", "check"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["ada"][:2] == ["ok", "x3"] and " ".join(rows["ada"][2:]) == "2 min ago (01.b)"
    assert rows["grace"][:2] == ["-", "."] and rows["tim"] == [".", ".", "never"]
    assert [line.split()[0] for line in lines[1:]] == ["ada", "grace", "tim"]
    assert progress.table(logs, ["01.b"], now=170)[0].split()[:2] == ["user", "01.b"]


def test_a_log_cut_short_is_read_up_to_the_damage():
    text = json.dumps(entry(1, "00.a", "passed")) + "\n" + '{"t": 2, "exer' + "\n" + '{"status": "odd"}\n'
    assert progress.parse(text) == [entry(1, "00.a", "passed")]


def test_progress_py_prints_the_table_of_a_user_list(tmp_path, capsys):
    users = tmp_path / "users.txt"
    users.write_text("@tim\nnobody-here-xyz\n")
    prog = load("progress")
    assert prog.main(["--users", str(users), "--lesson", "00"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["user", "00.ns_differences"] and out[-1] == progress.LEGEND
    assert len(out) == 2  # the instructor is not a row; a user not created yet is not either


# ---- one VM per participant, and Kubernetes ----------------------------------------------

def test_cloud_init_installs_clones_and_sets_up():
    text = (WS / "cloud-init.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert {"git", "make", "python3", "python3-venv"} <= set(doc["packages"])
    commands = " ".join(" ".join(c) if isinstance(c, list) else c for c in doc["runcmd"])
    assert "git clone" in commands and 'make -C "$MINICTR_DIR" setup' in commands
    env = next(f for f in doc["write_files"] if f["path"] == "/etc/minictr-workshop.env")["content"]
    assert re.search(r"^MINICTR_REPO=\S+\.git$", env, re.M)
    assert "cloud-init.yaml" in GUIDE


def test_z2jh_values_say_what_the_guide_says():
    values = yaml.safe_load((WS / "z2jh" / "values.yaml").read_text())
    single = values["singleuser"]
    assert single["image"]["name"].endswith("minictr-singleuser") and single["image"]["tag"]
    assert single["extraPodConfig"] == {"hostUsers": False}
    ctx = single["extraContainerConfig"]["securityContext"]
    assert ctx["seccompProfile"] == {"type": "Unconfined"} and ctx["appArmorProfile"] == {"type": "Unconfined"}
    assert ctx["procMount"] == "Unmasked" and "privileged" not in ctx
    assert single["allowPrivilegeEscalation"] is True and ctx["allowPrivilegeEscalation"] is True
    assert single["extraEnv"]["MINICTR_CHECK_LOG"].endswith("/.local/state/minictr/checks.jsonl")
    assert "/opt/minictr/notebooks" in " ".join(single["lifecycleHooks"]["postStart"]["exec"]["command"])
    hub = values["hub"]
    assert hub["config"]["JupyterHub"]["authenticator_class"] == "shared-password"
    assert hub["loadRoles"]["workshop-admin"]["services"] == ["workshop-admin"]
    assert "workshop-admin" in hub["services"]
    privileged = yaml.safe_load((WS / "z2jh" / "privileged.yaml").read_text())["singleuser"]
    assert privileged["extraContainerConfig"]["securityContext"]["privileged"] is True
    # the guide names each choice, the image and the memory figures the values use
    for words in ("hostUsers: false", "procMount: Unmasked", "seccompProfile", "privileged.yaml",
                  "workshop/z2jh/Containerfile", "allowPrivilegeEscalation"):
        assert words in GUIDE, words
    assert f"limit: {single['memory']['limit']}" in GUIDE or single["memory"]["limit"] in GUIDE


def test_the_containerfile_builds_the_image_the_values_name():
    text = (WS / "z2jh" / "Containerfile").read_text()
    assert re.search(r"^FROM \S+base-notebook", text, re.M)
    assert "uidmap" in text and "busybox-static" in text and "mk/devinstall.py lab" in text
    assert "jovyan:100000:65536" in text


# ---- subgroup.py: the server one level down in its unit's delegated group ------------------

def fake_unit(tmp_path, owner: int) -> Path:
    """A unit's v2 group as systemd leaves it with Delegate=yes: its cgroup.procs is the user's."""
    unit = tmp_path / "system.slice" / "jupyter-ann-singleuser.service"
    unit.mkdir(parents=True)
    (unit / "cgroup.procs").write_text("4242\n")
    os.chown(unit / "cgroup.procs", owner, owner)
    return unit


def test_subgroup_moves_the_server_into_a_leaf_of_a_delegated_group(tmp_path):
    me = os.getuid()
    unit = fake_unit(tmp_path, owner=me)
    proc_self = tmp_path / "self-cgroup"
    proc_self.write_text("0::/system.slice/jupyter-ann-singleuser.service\n")
    group = subgroup.own_group(str(tmp_path), str(proc_self))
    assert group == str(unit)
    assert subgroup.move_into_leaf(group, 4242, uid=me) == str(unit / "server")
    assert (unit / "server" / "cgroup.procs").read_text() == "4242"


def test_subgroup_leaves_a_group_that_is_not_delegated_alone(tmp_path):
    unit = fake_unit(tmp_path, owner=os.getuid())
    assert subgroup.move_into_leaf(str(unit), 4242, uid=os.getuid() + 1) is None   # another's group
    assert not (unit / "server").exists()
    proc_self = tmp_path / "hybrid"
    proc_self.write_text("12:pids:/user.slice\n0::/user.slice\n")    # cgroup v1 or hybrid: nothing to use
    assert subgroup.own_group(str(tmp_path), str(proc_self)) is None
