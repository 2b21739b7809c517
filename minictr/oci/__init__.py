"""The OCI runtime: minictr behind runc's command line (``minictr-runtime``), for podman and friends.

- ``state``: the spec's state of a container and which operation each status allows;
- ``runtime``: create, start, kill, delete, exec, pause, resume, on the one core (container.py);
- ``cli``: runc's command line and its error log, the only printer here.

OCI runtime spec 1.1: runtime.md (state, lifecycle, operations), config.md (the bundle).
"""
