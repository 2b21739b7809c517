"""Go's text/template as docker's --format uses it (cli_template.py), and ps/images filters (cli_listing.py)."""

import pytest

from minictr.cli_format import render_template as r
from minictr.cli_template import go_float
from minictr.errors import ConfigError

OBJ = {"Name": "/web", "State": {"Running": False, "ExitCode": 3, "OOMKilled": False},
       "Config": {"Env": ["A=1", "B=2"], "Entrypoint": None, "Cmd": ["sh"], "Labels": {"b": "2", "a": "x y"},
                  "ExposedPorts": {"8080/tcp": {}, "53/udp": {}}}}


@pytest.mark.parametrize("template, out", [
    ("{{json .Config.Env}}", '["A=1","B=2"]'),                          # compact, as Go's encoding/json
    ("{{json .Config.Entrypoint}}", "null"),
    ("{{.Config.ExposedPorts}}", "map[53/udp:{} 8080/tcp:{}]"),          # empty structs print {}
    ("{{.Config.Entrypoint}}", "[]"),                                    # a null slice
    ("{{.Config.Nope}} {{.Nope.Deeper}}", "<no value> <no value>"),      # only missing keys
    ("{{.State.OOMKilled}} {{.State.ExitCode}}", "false 3"),
    ("{{index .Config.Env 1}} {{index .Config.Labels \"a\"}}", "B=2 x y"),
    ("{{len .Config.Env}}", "2"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ("{{.Name | upper}} {{lower \"AB\"}}", "/WEB ab"),
    ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=x y;b=2;"),
    ("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
    ("{{if .State.Running}}up{{else if eq .State.ExitCode 3}}three{{else}}other{{end}}", "three"),
    ("{{if not .State.Running}}down{{end}}", "down"),
    ("{{with .State}}{{.ExitCode}}{{end}}", "3"),
    ("{{- .Name -}}  !", "/web!"),
    ("a\\tb", "a\tb"),                                                   # docker turns a typed \\t into a tab
    ('{{printf "%s:%d" .Name 3}}', "/web:3"),
    ("{{$.Name}}", "/web"),
])
def test_templates_print_like_go(template, out):
    assert r(template, OBJ) == out


def test_floats_print_like_go_fmt():
    assert [go_float(x) for x in (0.5, 3.0, 123456.0, 1e6, 1.5e-5)] == ["0.5", "3", "123456", "1e+06", "1.5e-05"]


@pytest.mark.parametrize("bad", ["{{if .X}}", "{{end}}", "{{nosuchfn .X}}", "{{.X", "{{.Name 3}}"])
def test_bad_templates_are_one_config_error(bad):
    with pytest.raises(ConfigError):
        r(bad, OBJ)


# ---------------------------------------------------------------- ps and images filters
def _st(name, status="stopped", code=0, image="busybox", image_id="sha256:" + "a" * 64, labels=None):
    from minictr.state import State
    return State(id=(name.encode().hex() * 64)[:64],
                 name=name, image=image, image_id=image_id, command=["sh"], status=status, exit_code=code,
                 labels=labels or {})


def test_ps_filters_combine_like_docker():
    from minictr.cli_listing import parse_filters, ps_filter
    sts = [_st("web", "running"), _st("db", code=1, labels={"tier": "data"}), _st("job", code=0, image="other",
                                                                                    image_id="sha256:" + "b" * 64)]
    f = lambda *a: [s.name for s in ps_filter(sts, parse_filters(a, ("status", "name", "id", "ancestor",
                                                                           "label", "exited")),
                                               lambda ref: "sha256:" + "a" * 64 if ref == "busybox" else None)]
    assert f("status=exited") == ["db", "job"]
    assert f("status=running", "status=exited") == ["web", "db", "job"]     # one key: any value
    assert f("status=exited", "exited=1") == ["db"]                          # two keys: both
    assert f("name=^j") == ["job"]
    assert f("label=tier") == f("label=tier=data") == ["db"]
    assert f("ancestor=busybox") == ["web", "db"]                            # by the recorded image id
    assert f("id=" + sts[2].id[:5]) == ["job"]
    with pytest.raises(ConfigError):
        f("colour=red")
    with pytest.raises(ConfigError):
        f("status=sleeping")


def test_ps_table_format_has_docker_headers():
    from minictr.cli_listing import PS_HEADERS, ps_row, render_rows
    rows = [ps_row(_st("web", "running"), 0.0), ps_row(_st("db", labels={"k": "v"}), 0.0)]
    out = render_rows("table {{.ID}}\\t{{.Names}}\\t{{.Label \"k\"}}", rows, PS_HEADERS).splitlines()
    assert out[0].split() == ["CONTAINER", "ID", "NAMES", "K"]
    assert out[2].split()[1:] == ["db", "v"] and out[0].index("NAMES") == out[2].index("db")
    assert render_rows("{{.Names}}:{{.State}}", rows, PS_HEADERS) == "web:running\ndb:exited"


def test_images_filters_and_format(store, capsys):
    from minictr import cli
    from minictr.image.synthetic import add_image
    add_image(store, [{"a": "1"}], name="busybox:latest", created="2024-01-01T00:00:00Z")
    add_image(store, [{"b": "2"}], name="web:1", created="2024-02-01T00:00:00Z", config={"Labels": {"tier": "front"}})
    add_image(store, [{"c": "3"}], name=None, created="2024-03-01T00:00:00Z")

    def names(*flags):
        capsys.readouterr()
        assert cli.main(["images", *flags, "--format", "{{.Repository}}:{{.Tag}}"]) == 0
        return capsys.readouterr().out.split()
    assert names() == ["<none>:<none>", "web:1", "busybox:latest"]
    assert names("--filter", "reference=bus*") == ["busybox:latest"]
    assert names("-f", "reference=*:1") == ["web:1"]
    assert names("-f", "dangling=true") == ["<none>:<none>"]
    assert names("-f", "dangling=false") == ["web:1", "busybox:latest"]
    assert names("-f", "before=web:1") == ["busybox:latest"]
    assert names("-f", "since=busybox") == ["<none>:<none>", "web:1"]
    assert names("-f", "label=tier=front") == ["web:1"]
    capsys.readouterr()
    assert cli.main(["images", "--format", "table {{.Repository}}\\t{{.Tag}}", "-f", "reference=web"]) == 0
    assert capsys.readouterr().out.split("\n")[:2] == ["REPOSITORY   TAG", "web          1"]
    assert cli.main(["images", "-f", "colour=red"]) != 0


def test_container_inspect_is_docker_shaped():
    from minictr.inspect_view import container_json, docker_config, rfc3339_nano
    from minictr.state import State
    assert rfc3339_nano(1700000000.5) == "2023-11-14T22:13:20.5Z" and rfc3339_nano(0) == "0001-01-01T00:00:00Z"
    cfg = {"env": ["A=1"], "cwd": "/", "hostname": "h", "resources": {"memory": 64 << 20, "cpus": 0.5},
           **docker_config({"Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}}}, [], None)}
    st = State(id="c" * 64, name="web", image="busybox", image_id="sha256:" + "d" * 64, command=["sh"],
               status="stopped", exit_code=3, created=1700000000.123456, started=1700000001.0,
               finished=1700000002.0, config=cfg)
    d = container_json(st)
    assert d["Id"] == "c" * 64 and d["Name"] == "/web" and d["Image"] == "sha256:" + "d" * 64
    assert d["Created"].startswith("2023-11-14T22:13:20.123456") and d["Created"].endswith("Z")
    assert {k: d["State"][k] for k in ("Status", "Running", "Paused", "OOMKilled", "Pid", "ExitCode")} == \
        {"Status": "exited", "Running": False, "Paused": False, "OOMKilled": False, "Pid": 0, "ExitCode": 3}
    assert d["State"]["StartedAt"] == "2023-11-14T22:13:21Z"
    assert d["HostConfig"]["Memory"] == 64 << 20 and d["HostConfig"]["NanoCpus"] == 500_000_000
    assert r("{{.Config.Cmd}} {{.Config.Entrypoint}} {{.Config.ExposedPorts}} {{json .Config.Env}}", d) == \
        '[sh] [] map[80/tcp:{}] ["A=1"]'
    # --entrypoint clears the image's Cmd, as docker does
    assert docker_config({"Cmd": ["sh"], "Entrypoint": ["/init"]}, [], "echo") == \
        {"entrypoint": ("echo",), "cmd": None, "exposed_ports": ()}
