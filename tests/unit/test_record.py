"""record.Record: what the run path's data classes rely on (dataclass behaviour, without dataclasses)."""

import copy
import pickle

import pytest

from minictr.config import ContainerConfig, Resources, Rootfs
from minictr.record import Factory, Record, asdict, fields, replace
from minictr.rootfs import Mount
from minictr.state import State


class Point(Record):
    x: int
    y: int = 0
    tags: list = Factory(list)


class Point3(Point):
    z: int = 0


class Box(Record, frozen=False):
    items: list = Factory(list)


def test_fields_defaults_and_a_fresh_factory_value_per_instance():
    a, b = Point(1), Point(x=2, y=3)
    assert (a.x, a.y, a.tags) == (1, 0, [])
    assert (b.x, b.y) == (2, 3)
    assert a.tags is not Point(1).tags
    assert fields(Point3(1)) == ("x", "y", "tags", "z")
    assert Point3(1, 2, [], 4).z == 4


def test_repr_reads_like_a_dataclass():
    assert repr(Point(1, tags=["a"])) == "Point(x=1, y=0, tags=['a'])"
    assert repr(Mount("proc", "/r/proc", "proc")) == \
        "Mount(source='proc', target='/r/proc', fstype='proc', flags=0, data=None, mkdir=True)"


def test_equality_is_by_class_and_value_and_frozen_records_hash():
    assert Point(1) == Point(1) and Point(1) != Point(2)
    assert Point3(1) != Point(1)
    assert len({Rootfs("/a"), Rootfs("/a"), Rootfs("/b")}) == 2
    with pytest.raises(TypeError):
        hash(Box())


def test_frozen_records_refuse_assignment_and_mutable_ones_allow_it():
    r = Rootfs("/a")
    with pytest.raises(AttributeError, match="frozen Rootfs"):
        r.path = "/b"
    with pytest.raises(AttributeError):
        del r.path
    b = Box()
    b.items = [1]
    assert b.items == [1]


def test_bad_arguments_are_type_errors():
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()
    with pytest.raises(TypeError, match="unexpected keyword argument 'w'"):
        Point(1, w=2)
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)
    with pytest.raises(TypeError, match="takes 3 arguments but 4 were given"):
        Point(1, 2, [], 4)


def test_replace_asdict_copy_and_pickle():
    cfg = ContainerConfig(id="a" * 64, name="n", image="i", rootfs=Rootfs("/r", lowers=("/l",)), args=("sh",),
                          resources=Resources(memory=1 << 20))
    assert replace(cfg, name="m").name == "m" and cfg.name == "n"
    d = asdict(cfg)
    assert d["rootfs"] == {"path": "/r", "lowers": ("/l",), "upper": None, "work": None, "readonly": False,
                          "volatile": False, "userxattr": False}
    assert d["resources"]["memory"] == 1 << 20
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert copy.deepcopy(cfg) == cfg
    st = State(id="a" * 64, name="n", image="i", command=["sh"])
    assert pickle.loads(pickle.dumps(st)) == st
    assert st.ports == [] and st.created > 0


def test_resources_any():
    assert not Resources().any()
    assert Resources(pids_limit=10).any()
