"""The one exception tree of minictr.

Every error a user can cause is a ``MinictrError``. The CLI catches it once,
prints ``str(err)`` as a single line and exits 125 for ``run`` and 1 for the
other commands, as docker's CLI does (``--debug`` adds the traceback).
Messages are lower-case, name the path or value at fault, and carry a
``hint`` that says how to fix it::

    MinictrError
    ├─ ConfigError(ValueError)        bad flags, bad ids, bad limits: .field .value .hint
    │   ├─ BuildError                 a Containerfile or build context: "FILE:LINE: what is wrong"
    │   └─ SpecError                  a bundle's config.json: "config.json: FIELD: VALUE why"
    ├─ ImageError
    │   ├─ ImageNotFound(FileNotFoundError)
    │   ├─ InvalidImage
    │   └─ UnsafeLayerEntry           a tar member that would land outside the root
    ├─ CgroupError
    │   ├─ CgroupsUnavailable
    │   └─ ControllerMissing
    ├─ ContainerStateError
    │   ├─ NotFound
    │   ├─ AlreadyExists
    │   └─ InvalidTransition
    ├─ SyscallError(OSError)          "mount proc on /proc (MS_NOSUID|MS_NODEV): Operation not permitted"
    ├─ ContainerSetupError            the child's failure, sent over the sync pipe, with .stage
    └─ StartInterrupted               SIGINT/SIGTERM came before the container started
"""

from __future__ import annotations

import errno as _errno
import os


class MinictrError(Exception):
    """Base of every error minictr raises on purpose.

    ``hint`` is one short sentence that tells the user what to do next.
    """

    hint: str | None = None
    # What `run` exits with (docker: 125 = the runtime itself failed); the other
    # commands exit 1 for their own failures (cli.exit_status).
    exit_code: int = 125

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class ConfigError(MinictrError, ValueError):
    """A flag, id or limit that cannot be used. Names the field and the value."""

    def __init__(self, field: str, value: object, why: str, *, hint: str | None = None):
        self.field = field
        self.value = value
        super().__init__(f"invalid {field} {value!r}: {why}", hint=hint)


class BuildError(ConfigError):
    """A Containerfile line or a build context that cannot be built: ``FILE:LINE: why``.

    ``file`` and ``line`` (1-based, 0 when no line applies) say where.
    """

    def __init__(self, file: str, line: int, why: str, *, hint: str | None = None):
        self.field, self.value = "containerfile", file
        self.file, self.line, self.why = file, line, why
        MinictrError.__init__(self, f"{file}:{line}: {why}" if line else f"{file}: {why}", hint=hint)


class SpecError(ConfigError):
    """A field of an OCI bundle's ``config.json`` that cannot be used; ``field`` is its JSON path
    (``linux.namespaces[2].type``), and the message reads ``config.json: FIELD: VALUE why``."""

    def __init__(self, field: str, value: object, why: str, *, hint: str | None = None, source: str = "config.json"):
        import json
        self.field, self.value = field, value
        try:
            shown = json.dumps(value)
        except (TypeError, ValueError):
            shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        MinictrError.__init__(self, f"{source}: {field}: {shown} {why}", hint=hint)


class ImageError(MinictrError):
    """Something is wrong with an image or a rootfs tarball."""


class ImageNotFound(ImageError, FileNotFoundError):
    """The image is neither in the store nor a path to a tarball."""


class InvalidImage(ImageError):
    """The image exists but cannot be read (corrupt, wrong format, bad digest)."""


class UnsafeLayerEntry(ImageError):
    """A tar member would write outside the container's root."""

    def __init__(self, member: str, why: str, *, hint: str | None = None):
        self.member = member
        super().__init__(
            f"refusing tar member {member!r}: {why}",
            hint=hint or "the tarball is malicious or broken; get the image from a source you trust",
        )


class CgroupError(MinictrError):
    """cgroups cannot be used as asked."""


class CgroupsUnavailable(CgroupError):
    """No usable cgroup hierarchy (not mounted, or read-only)."""


class ControllerMissing(CgroupError):
    """A limit was asked for a controller the host does not offer."""


class ContainerStateError(MinictrError):
    """A container is not in the state the command needs."""


class NotFound(ContainerStateError):
    """No container has that id or name."""


class AlreadyExists(ContainerStateError):
    """The id or name is taken."""


class InvalidTransition(ContainerStateError):
    """For example removing a running container without --force."""


class SyscallError(MinictrError, OSError):
    """A system call failed. ``str()`` reads like ``mount proc on /proc (MS_NOSUID): Operation not permitted``."""

    def __init__(self, call: str, err: int, detail: str = "", *, hint: str | None = None):
        self.call = call
        self.detail = detail
        what = f"{call} {detail}".strip()
        OSError.__init__(self, err, os.strerror(err))
        self.message = f"{what}: {os.strerror(err)}"
        self.args = (self.message,)
        if hint is None and err in (_errno.EPERM, _errno.EACCES):
            hint = "needs root: run with sudo, or use the lab VM (see `minictr doctor`)"
        self.hint = hint

    def __str__(self) -> str:  # OSError.__str__ would print "[Errno 1] ..."
        return MinictrError.__str__(self)


class ContainerSetupError(MinictrError):
    """The container's init failed before or at exec; sent back over the sync pipe.

    ``stage`` names the step (``mounts``, ``pivot_root``, ``exec`` ...), ``errno``
    the kernel's answer where there was one.
    """

    def __init__(self, stage: str, message: str, *, errno: int | None = None, hint: str | None = None,
                 exit_code: int = 125):
        self.stage = stage
        self.errno = errno
        self.exit_code = exit_code
        super().__init__(f"container setup failed at {stage}: {message}", hint=hint)


class StartInterrupted(MinictrError):
    """A forwarded signal (SIGINT, SIGTERM ...) came before the command started: the start was undone.

    The exit status is 128+N, as if the signal had ended the CLI, but only
    after the half-made container was removed.
    """

    def __init__(self, signum: int):
        import _signal
        self.signum = signum
        self.exit_code = 128 + signum
        name = {_signal.SIGINT: "SIGINT", _signal.SIGTERM: "SIGTERM", _signal.SIGHUP: "SIGHUP",
                _signal.SIGQUIT: "SIGQUIT"}.get(signum, f"signal {signum}")
        super().__init__(f"{name} before the container started: it was removed, nothing is left behind")
