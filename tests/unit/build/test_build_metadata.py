"""Metadata instructions as changes to the image config, and history lines."""

from __future__ import annotations

import pytest

from minictr.build import metadata, parser


def run(text: str, base: dict | None = None) -> metadata.StageState:
    st = metadata.start(base)
    for ins in parser.parse(text).stages[0].instructions[1:]:
        st = metadata.apply(st, ins)
    return st


def test_env_workdir_user_labels_ports_volumes_signal():
    base = {"Env": ["PATH=/bin", "A=old"], "Labels": {"base": "1"}}
    st = run("FROM x\nENV A=new B=2\nWORKDIR app\nWORKDIR ../srv/./x\nUSER 1000:1000\nLABEL k=v\n"
             "EXPOSE 80 53/udp\nEXPOSE 80\nVOLUME /data\nSTOPSIGNAL SIGINT\nMAINTAINER me\n", base)
    assert st.config == {
        "Env": ["PATH=/bin", "A=new", "B=2"], "Labels": {"base": "1", "k": "v"}, "WorkingDir": "/srv/x",
        "User": "1000:1000", "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Volumes": {"/data": {}},
        "StopSignal": "SIGINT"}
    assert st.author == "me"
    assert base == {"Env": ["PATH=/bin", "A=old"], "Labels": {"base": "1"}}, "the base config is not changed"


def test_cmd_and_entrypoint_forms_and_shell():
    st = run('FROM x\nCMD echo hi\nSHELL ["/bin/bash", "-c"]\nENTRYPOINT run me\n')
    assert st.config == {"Cmd": ["/bin/sh", "-c", "echo hi"], "Entrypoint": ["/bin/bash", "-c", "run me"]}
    assert st.shell == ("/bin/bash", "-c")


def test_entrypoint_clears_the_base_images_cmd_only():
    assert run('FROM x\nENTRYPOINT ["/app"]\n', {"Cmd": ["sh"]}).config == {"Entrypoint": ["/app"]}
    assert run('FROM x\nCMD ["--help"]\nENTRYPOINT ["/app"]\n', {"Cmd": ["sh"]}).config == {
        "Cmd": ["--help"], "Entrypoint": ["/app"]}


def test_history():
    cf = parser.parse("FROM x\nENV A=1\nRUN make \\\n  all\nRUN [\"make\"]\nCOPY a /b\n")
    env, run_sh, run_exec, copy = cf.stages[0].instructions[1:]
    assert metadata.history_entry(env, "T") == {"created": "T", "created_by": "/bin/sh -c #(nop) ENV A=1",
                                                "empty_layer": True}
    assert metadata.history_entry(run_sh, "T") == {"created": "T", "created_by": "/bin/sh -c make all"}
    assert metadata.created_by(run_sh, ("/bin/bash", "-c")) == "/bin/bash -c make all"
    assert metadata.created_by(run_exec) == "make"
    assert metadata.created_by(copy) == "/bin/sh -c #(nop) COPY a /b"


def test_file_instructions_are_not_metadata():
    ins = parser.parse("FROM x\nRUN make\n").stages[0].instructions[1]
    with pytest.raises(ValueError, match="RUN changes files"):
        metadata.apply(metadata.start(None), ins)
