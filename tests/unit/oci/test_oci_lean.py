"""minictr-runtime's calls import little: podman makes four or five of them per container.

Measured (python -X importtime): ``import json`` (re, enum) cost ~4-6 ms of a call, and
``import hashlib`` (OpenSSL) ~4-17 ms; create reads config.json with leanjson and hashes a
non-hex id with the builtin sha256, ``state`` prints without json.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from minictr.oci import cli

HERE = Path(__file__).parent
REPO = str(HERE.parent.parent.parent)
HEAVY = ("json", "hashlib", "re", "enum", "minictr.security.seccomp", "minictr.security.bpf")

def loaded_after(code: str, *args: str) -> tuple[str, set]:
    probe = code + "\nprint('MODULES', ','.join(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", "import sys\n" + probe, *args], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=REPO), check=True).stdout
    text, _, modules = out.rpartition("MODULES ")
    return text, set(modules.strip().split(","))

def test_reading_a_bundle_with_podmans_seccomp_imports_no_json_nor_hashlib_once_cached(tmp_path):
    doc = json.loads((HERE / "podman-run.config.json").read_text())
    (tmp_path / "rootfs").mkdir()
    doc["root"]["path"] = str(tmp_path / "rootfs")
    doc["linux"]["namespaces"] = [ns for ns in doc["linux"]["namespaces"] if "path" not in ns]
    (tmp_path / "config.json").write_text(json.dumps(doc))
    code = ("from minictr.oci.spec import load_bundle\n"
            "cfg = load_bundle(sys.argv[1], 'not-hex-id')\n"
            "print(cfg.id, len(cfg.security.seccomp_filter))\n")
    # (MINICTR_ROOT, where the compiled program is cached, is the test's own: tests/conftest.py)
    first, _ = loaded_after(code, str(tmp_path))
    again, modules = loaded_after(code, str(tmp_path))
    assert first == again
    import hashlib
    assert again.split()[0] == hashlib.sha256(b"not-hex-id").hexdigest()  # the same id as before
    assert not modules & set(HEAVY), modules & set(HEAVY)



def test_state_prints_runcs_shape_without_json(tmp_path, capsys):
    doc = {"ociVersion": "1.1.0", "id": "box", "pid": 7, "status": "créé", "annotations": {"a": "b\n"}}
    cli._print_object(doc)
    out = capsys.readouterr().out
    assert json.loads(out) == doc
    assert out.splitlines()[1] == '  "ociVersion": "1.1.0",' and out.endswith("}\n")
    _, modules = loaded_after("from minictr.oci import cli\ncli._print_object({'id': 'x'})")
    assert "json" not in modules


def test_start_kill_state_and_delete_need_no_config_module_nor_json():
    _, modules = loaded_after("from minictr.oci import cli, runtime, state")
    assert not modules & {"minictr.config", "minictr.container", "minictr.oci.spec", *HEAVY}, modules
