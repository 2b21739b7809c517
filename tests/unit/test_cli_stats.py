"""`minictr stats`: the table docker prints, from states and cgroup readings on a fake tree."""

import argparse
import os
import re

import pytest

from minictr import cgroups, cli, cli_stats, state
from minictr.cgroups import Stats
from minictr.cgroups.fake import build_v2
from minictr.config import Resources

CID = "ab" * 32


def test_row_formats_like_docker():
    st = state.State(id=CID, name="eager_tesla", image="busybox", command=["sh"])
    before = Stats(cpu_usage_ns=0, time=1.0)
    after = Stats(cpu_usage_ns=250_000_000, memory_usage=8 << 20, memory_limit=32 << 20, pids=3, time=1.5)
    assert cli_stats.row(st, before, after, host_total=1 << 30) == (
        CID[:12], "eager_tesla", "50.00%", "8MiB / 32MiB", "25.00%", "3")
    unlimited = Stats(memory_usage=1 << 20, pids=1, time=2.0)
    assert cli_stats.row(st, None, unlimited, host_total=1 << 30, no_trunc=True) == (
        CID, "eager_tesla", "0.00%", "1MiB / 1GiB", "0.10%", "1")
    assert cli_stats.row(st, before, None, 1 << 30) == (CID[:12], "eager_tesla", "0.00%", "0B / 0B", "0.00%", "0")


def test_stats_command_no_stream(tmp_path, monkeypatch, capsys):
    root, proc, fs = build_v2(str(tmp_path / "host"))
    mgr = cgroups.create(CID, Resources(memory=32 << 20), root=root, proc_self_cgroup=proc, fs=fs)
    mgr.add(os.getpid())  # a fake tree: nothing moves for real
    fs.set_value(os.path.join(mgr.groups[0].path, "memory.current"), str(4 << 20))
    fs.set_value(os.path.join(mgr.groups[0].path, "pids.current"), "2")
    st = state.State(id=CID, name="web", image="busybox", command=["sh"], status="running",
                     pid=os.getpid(), pid_start=state.process_start(os.getpid()))
    st.save(create=True)
    monkeypatch.setattr(cgroups, "open", lambda cid: cgroups.manager.open(cid, root=root, proc_self_cgroup=proc,
                                                                         fs=fs))
    monkeypatch.setattr(cli_stats, "NO_STREAM_INTERVAL", 0.01)
    assert cli.main(["stats", "--no-stream"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert re.split(r"\s{2,}", header) == list(cli_stats.HEADER)
    assert re.split(r"\s{2,}", line) == [CID[:12], "web", "0.00%", "4MiB / 32MiB", "12.50%", "2"]
    assert cli.main(["stats", "--no-stream", "nosuch"]) == 1
    assert "no such container: nosuch" in capsys.readouterr().err
    fs.set_procs(mgr.groups[0].path, [])
    mgr.destroy()


def test_stats_flags_parse():
    parser = cli.build_parser()
    args = parser.parse_args(["stats", "--no-stream", "-a", "--no-trunc", "a", "b"])
    assert (args.no_stream, args.all, args.no_trunc, args.containers) == (True, True, True, ["a", "b"])
    assert isinstance(args, argparse.Namespace) and args.func is cli_stats.cmd_stats
