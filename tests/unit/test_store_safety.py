"""The store across processes: leases, owner-tagged leftovers, check and repair, rmi's in-use test,
and what a killed start leaves (issue 13, items 1, 2, 3 and 8). No root needed."""

import json
import os

import pytest

from minictr import cli
from minictr.errors import InvalidImage
from minictr.image import oci
from minictr.image.check import check, repair
from minictr.image.gc import collect, containers_using
from minictr.image.lease import Lease, live_leases, owner_alive, owner_tag, parse_tag, process_start
from minictr.image.synthetic import add_image

DEAD = "999999999.1"  # a PID above pid_max: never alive


def test_owner_tags_name_a_process_and_its_start_time():
    me = owner_tag()
    assert me == f"{os.getpid()}.{process_start(os.getpid())}" and owner_alive(me)
    assert not owner_alive(DEAD)
    assert not owner_alive(f"{os.getpid()}.{process_start(os.getpid()) + 1}")  # a recycled PID is not us
    assert parse_tag(f"w-{me}-abc") == me and parse_tag("layer-12.34-deadbeef-x") == "12.34"
    assert parse_tag("w-abc") is None


def test_gc_keeps_the_blobs_of_a_load_in_progress(store):
    with store.transaction():
        digest = store.put_blob(b"a layer not named yet")
        assert collect(store)["blobs"] == 0 and store.has_blob(digest)  # held by our lease
        assert digest in live_leases(store.leases_dir)
    assert os.listdir(store.leases_dir) == []  # released with the transaction
    collect(store)
    assert not store.has_blob(digest)  # never named: garbage now


def test_a_claimed_blob_that_was_already_there_is_held_too(store):
    digest = store.put_blob(b"already in the store, unreferenced")
    with store.transaction():
        assert store.claim(digest)
        collect(store)
        assert store.has_blob(digest)
        assert not store.claim(oci.sha256_digest(b"absent"))


def test_a_dead_owners_lease_and_temp_files_go_at_once(store):
    digest = store.put_blob(b"left by a killed load")
    (store.leases_dir).mkdir(exist_ok=True)
    (store.leases_dir / f"{DEAD}-1").write_text(digest + "\n")
    (store.tmp_dir / f"w-{DEAD}-x").write_bytes(b"half a blob")
    (store.tmp_dir / f"layer-{DEAD}-0123456789ab-y").mkdir()
    (store.tmp_dir / f"w-{owner_tag()}-mine").write_bytes(b"being written by a live process")
    (store.tmp_dir / "w-untagged").write_bytes(b"from an older minictr, young")
    assert len([line for line in check(store) if "dead process" in line]) == 3
    removed = collect(store)
    assert removed == {"blobs": 1, "layers": 0, "tmp": 2}
    assert os.listdir(store.leases_dir) == []
    assert sorted(os.listdir(store.tmp_dir)) == sorted([f"w-{owner_tag()}-mine", "w-untagged"])


def test_temp_files_carry_their_owner(store):
    fd, path = store._tmpfile()
    os.close(fd)
    assert parse_tag(path.name) == owner_tag()


def test_the_completeness_check_runs_under_the_lock_and_names_nothing_missing(store):
    img = add_image(store, [{"a": "1"}], name="whole:1")
    manifest = json.loads(store.read_blob(img.manifest_digest))
    manifest["layers"][0]["digest"] = oci.sha256_digest(b"never stored")
    digest = store.put_blob(oci.canonical_json(manifest))
    before = store.index_path.read_bytes()
    with pytest.raises(InvalidImage, match="incomplete"):
        store.add_image(digest, ["broken:1"])
    assert store.index_path.read_bytes() == before


def test_check_finds_a_lost_blob_and_prune_and_rmi_f_repair(store, capsys):
    img = add_image(store, [{"a": "1"}], name="lost:1")
    add_image(store, [{"b": "2"}], name="kept:1")
    assert check(store) == []
    assert cli.main(["image", "check"]) == 0
    store.blob_path(img.layers[0]["digest"]).unlink()  # lost behind minictr's back
    problems = check(store)
    assert len(problems) == 1 and "lost:1" in problems[0] and "is missing" in problems[0]
    capsys.readouterr()
    assert cli.main(["image", "check"]) == 1
    assert "lost:1" in capsys.readouterr().out
    assert cli.main(["image", "prune"]) == 0
    out = capsys.readouterr().out
    assert "Dropped from the index: lost:1" in out
    assert check(store) == [] and [i.ref for i in store.images()] == ["kept:1"]
    # rmi -f repairs too
    other = add_image(store, [{"c": "3"}], name="again:1")
    store.blob_path(other.manifest_digest).unlink()
    assert cli.main(["rmi", "-f", "kept:1"]) == 0
    out = capsys.readouterr().out
    assert "Dropped from the index: again:1" in out and "Untagged: kept:1" in out
    assert check(store) == [] and store.images() == []


def test_a_corrupt_blob_is_reported(store):
    img = add_image(store, [{"a": "1"}], name="rot:1")
    store.blob_path(img.id).write_bytes(b"{}")
    assert any("corrupt" in p for p in check(store))
    assert repair(store) == []  # the blob is there: only check reports it


class _St:
    def __init__(self, image, image_id, lowers):
        self.image, self.image_id, self.name, self.short_id, self.status = image, image_id, "c", "c", "stopped"
        self.config = {"rootfs": {"lowers": lowers}}


def test_rmi_in_use_follows_the_recorded_image_not_shared_layers(store):
    base = add_image(store, [{"bin/sh": "x"}], name="busybox:latest", config={"Cmd": ["sh"]})
    same_layers = add_image(store, [{"bin/sh": "x"}], name="lesson08:cfg", config={"Cmd": ["echo", "hi"]})
    assert base.diff_ids == same_layers.diff_ids and base.id != same_layers.id
    lowers = [str(store.layers_dir / d.split(":")[1]) for d in base.diff_ids]
    made_from_busybox = _St("busybox", base.id, lowers)
    assert containers_using(store, same_layers, [made_from_busybox]) == []
    assert containers_using(store, base, [made_from_busybox]) == [made_from_busybox]
    old_state = _St("busybox", "", lowers)  # written before image ids were recorded: by reference
    assert containers_using(store, base, [old_state]) == [old_state]
    assert containers_using(store, same_layers, [old_state]) == []


def test_a_second_manifest_of_the_same_image_is_not_in_use(store):
    base = add_image(store, [{"bin/sh": "x"}], name="busybox:latest")
    # the same config and layers, stored uncompressed: another manifest, the same image id
    twin = add_image(store, [{"bin/sh": "x"}], name="lesson08/loaded:latest", gz=False)
    assert twin.id == base.id and twin.manifest_digest != base.manifest_digest
    made_from_busybox = _St("busybox", base.id, [str(store.layers_dir / base.diff_ids[0].split(":")[1])])
    assert containers_using(store, twin, [made_from_busybox]) == []
    store.remove("lesson08/loaded:latest")
    assert containers_using(store, base, [made_from_busybox]) == [made_from_busybox]  # now the last one


# ---------------------------------------------------------------- interrupted starts
@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("MINICTR_ROOT", str(tmp_path / "store"))
    (tmp_path / "run").mkdir()
    (tmp_path / "store" / "containers").mkdir(parents=True)
    return tmp_path


def test_a_state_dir_appears_whole(runtime):
    from minictr.state import State
    st = State(id="a" * 64, name="x", image="busybox", command=["true"], supervisor_pid=os.getpid(),
               supervisor_start=process_start(os.getpid()))
    st.save(create=True)
    assert os.listdir(runtime / "run") == ["a" * 64]
    assert os.listdir(runtime / "run" / ("a" * 64)) == ["state.json"]
    st.remove()
    assert os.listdir(runtime / "run") == []


def test_gc_collects_what_killed_starts_left(runtime):
    from minictr import container, state
    run, bundles = runtime / "run", runtime / "store" / "containers"
    ids = [c * 64 for c in "bcdef"]
    (run / f".new-{ids[0]}-{DEAD}").mkdir()                        # killed during its first save
    (run / f".new-{ids[1]}-{owner_tag()}").mkdir()                 # being made right now: kept
    (run / ids[2]).mkdir()                                           # an older minictr's empty state dir
    (bundles / ids[3]).mkdir()                                       # storage whose state is gone
    (bundles / ids[3] / ".state").write_text(str(run / ids[3]))
    (bundles / ("0" * 64)).mkdir()                                   # an older minictr's: whose is unknown
    (bundles / ("1" * 64)).mkdir()                                   # another runtime dir's, still there
    (bundles / ("1" * 64) / ".state").write_text(str(runtime / "elsewhere"))
    (runtime / "elsewhere").mkdir()
    (bundles / f".new-{'2' * 64}-{DEAD}").mkdir()                    # killed while making its storage
    (run / f".del-{ids[4]}-1").mkdir()                               # a removal killed half-way
    done = container.gc()
    assert sorted(done) == sorted([ids[0], ids[2], ids[3], ids[4], "2" * 64])
    assert os.listdir(run) == [f".new-{ids[1]}-{owner_tag()}"]
    assert sorted(os.listdir(bundles)) == ["0" * 64, "1" * 64]
    assert state.list_states() == []
    # `rm -f ID` of such a leftover succeeds once gc took it
    assert container.remove(ids[3][:12], force=True, collected=done).id == ids[3]


def test_a_creator_that_died_before_the_container_existed_is_collected(runtime):
    from minictr import container, state
    cid = "9" * 64
    st = state.State(id=cid, name="half", image="busybox", command=[], auto_remove=True,
                     bundle=str(runtime / "store" / "containers" / cid), supervisor_pid=999999999, supervisor_start=1)
    st.save(create=True)
    container._make_bundle(st.bundle, st)
    assert os.listdir(st.bundle) == [".state"]
    assert cid in container.gc()
    assert os.listdir(runtime / "run") == [] and os.listdir(runtime / "store" / "containers") == []
