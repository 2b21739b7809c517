"""L1: the build cache key of an instruction, and the content hash of COPY/ADD sources.

A build step can be skipped when a step with the same key was built before.
The key must change whenever the step's result could change, and only then.
It is the sha256 over (as canonical JSON):

- ``parent``: what the step starts from. For the first step after FROM, the
  base image's ID (its config digest) or ``"scratch"``; after that, the
  previous step's key. Chaining keys this way puts every earlier instruction
  (ENV, WORKDIR, USER, SHELL ... included) into every later key, so a RUN's
  environment needs no separate hashing;
- the instruction as parsed, which is its normalised text: the keyword, the
  arguments after substitution, the form (shell or JSON), the flags sorted
  (``--chown``, ``--chmod``, ``--from``) and the NAME=value pairs;
- the build args it uses, with their values (``Instruction.build_args``: for a
  RUN every ARG in scope, as they are in its environment);
- for COPY and ADD, ``sources_digest`` of what the sources select: for every
  file its destination path, type, mode, uid, gid, size, content sha256 and
  symlink target. **Not** its mtime: a fresh ``git clone`` or a touched file
  must not make a rebuild.

This is the "content-addressable" cache key of BuildKit (which hashes
metadata and content, not mtimes) rather than docker's old builder (which
hashed the instruction text and a tarsum). buildah's is similar: the history
of the parent plus the instruction and a digest of the copied content.

The chain ID helper follows the OCI image spec, config.md, "Layer ChainID".
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

from ..record import Record


class FileFacts(Record):
    """What of one source file goes into the hash (mtimes left out on purpose)."""
    rel: str        # its path below the destination
    kind: str       # "file", "dir", "symlink", "other"
    mode: int       # permission bits (and setuid/setgid/sticky)
    uid: int
    gid: int
    size: int       # regular files; 0 otherwise
    content: str    # sha256 of a regular file's bytes, a symlink's target, "major:minor" of a device


def file_facts(path: str, rel: str, follow: bool = False) -> FileFacts:
    """The ``FileFacts`` of the file at ``path`` (``follow``: stat through a symlink)."""
    st = os.stat(path) if follow else os.lstat(path)
    mode = st.st_mode
    size, content = 0, ""
    if stat.S_ISREG(mode):
        kind, size = "file", st.st_size
        with open(path, "rb") as f:
            content = hashlib.file_digest(f, "sha256").hexdigest()
    elif stat.S_ISDIR(mode):
        kind = "dir"
    elif stat.S_ISLNK(mode):
        kind, content = "symlink", os.readlink(path)
    else:
        kind = "other"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            content = f"{'c' if stat.S_ISCHR(mode) else 'b'}{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    return FileFacts(rel, kind, stat.S_IMODE(mode), st.st_uid, st.st_gid, size, content)


def source_facts(root: str, matches) -> list[FileFacts]:
    """The facts of everything ``ignore.select_sources`` matched in ``root`` (a build
    context, or a stage's rootfs for ``COPY --from``), in a stable order."""
    out = []
    for m in matches:
        base = m.src.rstrip("/").rsplit("/", 1)[-1] or "."
        if m.is_dir:
            # The directory's own mode and owner matter too (it becomes the destination dir).
            out.append(file_facts(os.path.join(root, m.path) if m.path else root, f"{base}/."))
            out.extend(file_facts(os.path.join(root, e.path), f"{base}/./{e.rel}") for e in m.entries)
        else:
            # A file source was found through its links: hash what they point at.
            out.extend(file_facts(os.path.join(root, e.path), e.rel, follow=True) for e in m.entries)
    return out


def sources_digest(root: str, matches) -> str:
    """``sha256:...`` over the ``source_facts`` of the matches (one COPY/ADD's sources)."""
    h = hashlib.sha256()
    for f in source_facts(root, matches):
        h.update(json.dumps([f.rel, f.kind, f.mode, f.uid, f.gid, f.size, f.content]).encode())
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


def normalized(ins) -> dict:
    """An instruction as the data its key is made of (no line number, no original spacing)."""
    return {
        "cmd": ins.cmd,
        "args": list(ins.args),
        "exec_form": ins.exec_form,
        "flags": sorted([k, v] for k, v in ins.flags),
        "pairs": [list(p) for p in ins.pairs],
        "build_args": [list(p) for p in ins.build_args],
    }


def cache_key(parent: str, ins, sources: str | None = None) -> str:
    """The cache key of ``ins`` (a ``parser.Instruction``) on top of ``parent``.

    ``sources`` is ``sources_digest(...)`` of a COPY/ADD's sources (all of them:
    hash each source's matches, or all matches at once), None otherwise."""
    if ins.cmd in ("COPY", "ADD") and sources is None:
        raise ValueError(f"{ins.cmd} needs the digest of its sources for its cache key")
    doc = {"parent": parent, "instruction": normalized(ins), "sources": sources}
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_id(diff_ids: list[str]) -> str | None:
    """The OCI ChainID of a stack of layers (bottom first): ``ChainID(L0) = DiffID(L0)``,
    ``ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))``; None for no layers."""
    chain = None
    for d in diff_ids:
        chain = d if chain is None else "sha256:" + hashlib.sha256(f"{chain} {d}".encode()).hexdigest()
    return chain
