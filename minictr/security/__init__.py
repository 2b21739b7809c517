"""L1: what root in a container may do, and what it may not (lesson 10).

A container's init is root on the host's kernel. Namespaces change what it
*sees*; these modules take away what it must not *do*:

- ``capabilities``: docker's 14 capabilities instead of all 41, the bounding
  set dropped, ``--cap-add``/``--cap-drop``;
- ``masks``: runc's masked paths (``/proc/keys``, ``/sys/firmware`` ...) and
  read-only paths (``/proc/sys`` ...), as steps of the mount plan;
- ``devices``: docker's device allow list, in the v1 devices cgroup or as an
  eBPF ``BPF_CGROUP_DEVICE`` program on cgroup v2;
- ``options``: the command-line flags (``--privileged``, ``--security-opt``)
  turned into a ``config.Security``;
- seccomp: the syscall filter (docker's profile format, compiled to classic BPF).

The child of ``process.py`` applies them in this order: mounts (with masks and
read-only paths), pivot_root, the bounding set, the user switch, capset,
no_new_privs, the seccomp filter, execve.

Man pages: capabilities(7), capset(2), prctl(2), proc(5), bpf(2), seccomp(2);
the kernel's Documentation/admin-guide/cgroup-v1/devices.rst.
"""
