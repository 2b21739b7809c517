"""Install a Jupyter kernel that runs as root through sudo: "minictr (root via sudo)".

    make lab-kernel                      # = python mk/lab_kernel.py --user
    python mk/lab_kernel.py --print      # only show the kernel.json and the sudoers lines

The lessons create namespaces, mount and chroot, which need root. On a laptop
where you have sudo, start JupyterLab as yourself and pick this kernel: its
argv starts with ``sudo -n`` (non-interactive: it fails at once instead of
waiting for a password nobody can type), so the kernel process runs as root
while the server, your files and your browser stay yours.

sudo must let it through without a password, and keep ``JPY_PARENT_PID`` so the
root kernel notices when its Jupyter server goes away and exits with it. Add,
with ``sudo visudo -f /etc/sudoers.d/minictr-lab``, the lines this script prints::

    Defaults env_keep += "JPY_PARENT_PID"
    you ALL=(root) NOPASSWD: /path/to/minictr/.venv/bin/python -m ipykernel_launcher -f *

Interrupting works (sudo relays SIGINT to the kernel). The kernel imports
minictr from the venv's editable install, i.e. from this checkout.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "minictr-root"
DISPLAY_NAME = "minictr (root via sudo)"


def kernel_spec(python: str) -> dict:
    return {
        "argv": ["sudo", "-n", python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }


def sudoers_lines(python: str, user: str) -> list[str]:
    return [
        'Defaults env_keep += "JPY_PARENT_PID"',
        f"{user} ALL=(root) NOPASSWD: {python} -m ipykernel_launcher -f *",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="install the kernelspec 'minictr (root via sudo)'")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user (default)")
    where.add_argument("--prefix", help="install under PREFIX/share/jupyter/kernels (e.g. a venv)")
    where.add_argument("--print", action="store_true", help="print kernel.json and the sudoers lines only")
    p.add_argument("--python", default=os.path.abspath(sys.executable),
                   help="the interpreter the root kernel runs (default: this one)")
    args = p.parse_args(argv)
    spec = kernel_spec(args.python)
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    if args.print:
        print(json.dumps(spec, indent=1))
    else:
        from jupyter_client.kernelspec import KernelSpecManager

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
            dest = KernelSpecManager().install_kernel_spec(tmp, KERNEL_NAME, user=not args.prefix,
                                                           prefix=args.prefix)
        print(f"installed the kernel {DISPLAY_NAME!r} in {dest}")
    print("For it to start, sudo must allow it without a password. Add these lines with")
    print("  sudo visudo -f /etc/sudoers.d/minictr-lab")
    for line in sudoers_lines(args.python, user):
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
