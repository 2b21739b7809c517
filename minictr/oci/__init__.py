"""L4: the OCI runtime spec's side of minictr: a bundle's ``config.json`` <-> ``ContainerConfig``,
and the runtime command that speaks runc's command line (``minictr-runtime``).

One core, two front ends (DESIGN.md): ``minictr run``'s docker flags and a
bundle's ``config.json`` become the same ``config.ContainerConfig``, and the
same ``container.Container`` creates and starts it.

- ``spec``: ``load_bundle``, ``from_oci`` (config.json -> ContainerConfig, every
  field checked, errors naming the field), and the re-exports of ``emit``;
- ``linux``, ``reader``: the ``linux`` object's parts, and typed reading with JSON paths;
- ``emit``: ``to_oci`` (ContainerConfig -> config.json, what ``run --dry-run
  --bundle DIR`` writes) and ``default_spec`` (what ``runc spec`` writes);
- ``seccomp``: linux.seccomp <-> docker's profile format, one compiler
  (``minictr.security.seccomp``);
- ``hooks``: ``run_hook``: one hook, with the container's state on stdin;
- ``state``: the spec's state of a container and which operation each status allows;
- ``runtime``: create (the init waits on exec.fifo), start, kill, delete, exec, pause, resume;
- ``features``: what the ``features`` command prints;
- ``cli``: runc's command line and its error log (``minictr-runtime``), the only printer here.
- ``bundle``: ``write_bundle`` for ``minictr run --dry-run --bundle DIR``.

The runtime spec: https://github.com/opencontainers/runtime-spec (config.md,
config-linux.md, runtime.md, features.md). Man pages: namespaces(7), capabilities(7),
setrlimit(2), personality(2), seccomp(2), mount(2), fifo(7).
"""
