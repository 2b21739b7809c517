"""`run -t` as a terminal: the size at start and on SIGWINCH, type-ahead, and closed pipes."""

import os
import select
import shlex
import subprocess
import time

from ttyhelp import close_pty, read_until, spawn_in_pty, winsize



def finish(pid, fd, timeout=10) -> int:
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    os.read(fd, 4096)
                except OSError:
                    pass
        raise AssertionError("minictr did not exit")
    finally:
        close_pty(pid, fd)


def test_the_command_sees_the_terminal_size_from_its_start(mc, rootfs_dir):
    pid, fd = spawn_in_pty(mc, "run", "--rm", "-t", rootfs_dir, "stty", "size", rows=45, cols=123)
    out = read_until(fd, b"\n")
    assert finish(pid, fd) == 0
    assert out.strip() == b"45 123", out


def test_a_resized_terminal_reaches_the_container(mc, rootfs_dir):
    pid, fd = spawn_in_pty(mc, "run", "--rm", "-it", rootfs_dir, "sh", rows=24, cols=80)
    try:
        read_until(fd, b"# ")
        winsize(fd, 50, 132)  # the kernel sends SIGWINCH to minictr, which passes the size on
        time.sleep(0.2)
        os.write(fd, b"echo size=$(stty size)\n")
        assert b"size=50 132" in read_until(fd, b"size=50 132")
        os.write(fd, b"exit 4\n")
    finally:
        assert finish(pid, fd) == 4


def test_typed_ahead_input_reaches_the_shell(mc):
    """What podman does: both lines typed before the shell started are run."""
    cmd = " ".join(shlex.quote(a) for a in mc.argv("run", "--rm", "-it", "busybox", "sh"))
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], input="echo X$((40+2))\nexit 3\n",
                       env=mc.env, capture_output=True, text=True, timeout=60)
    assert "X42" in r.stdout.replace("X$((40+2))", ""), r.stdout
    assert r.returncode == 3, r.stdout + r.stderr


def with_closed_stdout(mc, *args) -> subprocess.CompletedProcess:
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run(mc.argv(*args), stdout=w, stderr=subprocess.PIPE, env=mc.env, text=True, timeout=60)
    finally:
        os.close(w)


def test_a_closed_stdout_ends_run_quietly(mc, rootfs_dir):
    # -t: minictr relays the pty; it hangs the pty up, and `yes` ends on EIO.
    r = with_closed_stdout(mc, "run", "--rm", "-t", rootfs_dir, "yes")
    assert r.stderr == "", r.stderr
    # Without -t the container writes to the pipe itself; minictr adds nothing.
    r = with_closed_stdout(mc, "run", "--rm", rootfs_dir, "yes")
    assert "minictr" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert mc("run", "--rm", "busybox", "true").returncode == 0  # builds the image in the private store
    for args in (["images"], ["inspect", "busybox"], ["ps", "-a"]):
        r = with_closed_stdout(mc, *args)
        assert (r.returncode, r.stderr) == (141, ""), (args, r.stderr)
