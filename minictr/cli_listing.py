"""L4: ``ps`` and ``images`` as docker lists them: ``--filter`` and ``--format``.

Filters (docker-ps(1), docker-images(1)): ``--filter key=value``, repeatable.
Values of one key are alternatives (any may match); different keys must all
match. ``ps``: ``status=`` (created, running, exited, ...), ``name=`` (a
regular expression searched in the name), ``id=`` (a prefix), ``ancestor=``
(the image by name, or id prefix), ``label=KEY`` or ``label=KEY=VALUE``,
``exited=CODE``. ``images``: ``reference=`` (a glob on ``repo`` or
``repo:tag``), ``dangling=true|false``, ``before=IMAGE``, ``since=IMAGE``,
``label=``.

Formats: a Go template (cli_template.py) executed once per row on docker's
row fields (``{{.ID}} {{.Names}} {{.Status}}``...). A ``table`` prefix adds
docker's header row and aligns the tab-separated columns.
"""

from __future__ import annotations

import fnmatch
import re
import time

from .errors import ConfigError

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "Label": "LABEL"}
IMAGE_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                 "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}
PS_FILTERS = ("status", "name", "id", "ancestor", "label", "exited")
IMAGE_FILTERS = ("reference", "dangling", "before", "since", "label")
_PS_STATUS = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse_filters(values, allowed) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values or ():
        key, eq, val = v.partition("=")
        if not eq or key not in allowed:
            raise ConfigError("filter", v, f"must be KEY=VALUE with KEY one of {', '.join(allowed)}",
                              hint="e.g. --filter status=exited --filter name=web")
        out.setdefault(key, []).append(val)
    return out


def _labels_match(labels: dict, wanted: list[str]) -> bool:
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True


def format_created_at(t: float) -> str:
    """docker's CreatedAt: ``2026-12-02 00:58:12 +0000 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(t))


# ---------------------------------------------------------------- ps
def docker_status(st) -> str:
    return {"creating": "created", "created": "created", "running": "running", "stopped": "exited"}.get(st.status, st.status)


def ps_filter(states: list, filters: dict, find_image=None) -> list:
    """The states that match every filter key. ``find_image(ref)`` -> image id or None (for ancestor=)."""
    for v in filters.get("status", ()):
        if v not in _PS_STATUS:
            raise ConfigError("filter", f"status={v}", f"is not one of {', '.join(_PS_STATUS)}")
    for v in filters.get("exited", ()):
        if not v.lstrip("-").isdigit():
            raise ConfigError("filter", f"exited={v}", "must be an exit code (a number)")
    ancestors = []
    for v in filters.get("ancestor", ()):
        ancestors.append((v, find_image(v) if find_image else None))
    out = []
    for st in states:
        if "status" in filters and docker_status(st) not in filters["status"]:
            continue
        if "name" in filters and not any(re.search(v, st.name) for v in filters["name"]):
            continue
        if "id" in filters and not any(st.id.startswith(v) for v in filters["id"]):
            continue
        if "exited" in filters and not (st.status == "stopped" and str(st.exit_code) in filters["exited"]):
            continue
        if "label" in filters and not _labels_match(st.labels or {}, filters["label"]):
            continue
        if ancestors and not any(_is_ancestor(st, ref, iid) for ref, iid in ancestors):
            continue
        out.append(st)
    return out


def _is_ancestor(st, ref: str, image_id: str | None) -> bool:
    mine = getattr(st, "image_id", "") or ""
    if image_id and mine == image_id:
        return True
    if mine and ref.removeprefix("sha256:") and len(ref.removeprefix("sha256:")) >= 3 \
            and mine[7:].startswith(ref.removeprefix("sha256:")):
        return True
    name = st.image if ":" in st.image.rsplit("/", 1)[-1] else st.image + ":latest"
    want = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
    return name == want


def ps_row(st, now: float, *, trunc: bool = True) -> dict:
    """docker's ps fields for one container (``{{.ID}}``, ``{{.Names}}``, ``{{.Label "k"}}``...)."""
    import shlex
    from .cli_format import ago, human_duration
    if st.status == "running":
        status = f"Up {human_duration(now - st.started)}"
    elif st.status == "stopped":
        status = f"Exited ({st.exit_code}) {ago(st.finished, now)}"
    else:
        status = "Created"
    cmd = " ".join(shlex.quote(a) for a in st.command)
    if trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    labels = st.labels or {}
    return {
        "ID": st.short_id if trunc else st.id,
        "Image": st.image,
        "Command": f'"{cmd}"',
        "CreatedAt": format_created_at(st.created),
        "RunningFor": ago(st.created, now),
        "Ports": ", ".join(st.ports or ()),
        "State": docker_status(st),
        "Status": status,
        "Size": "0B",
        "Names": st.name,
        "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
        "Label": lambda key: labels.get(key, ""),
        "Mounts": "",
        "Networks": "",
    }


# ---------------------------------------------------------------- images
def image_rows(images: list, *, no_trunc: bool = False, now: float | None = None) -> list[dict]:
    """One row per name (``<none>`` for an unnamed image), with docker's images fields."""
    from .cli_format import ago, human_size
    now = time.time() if now is None else now
    rows = []
    for img in images:
        for name in img.names or ["<none>:<none>"]:
            repo, _, tag = name.rpartition(":")
            created = img.created.timestamp() if img.created else None
            rows.append({
                "ID": img.id if no_trunc else img.short_id,
                "Repository": repo, "Tag": tag, "Digest": img.manifest_digest,
                "CreatedSince": ago(created, now) if created else "N/A",
                "CreatedAt": format_created_at(created) if created else "N/A",
                "Size": human_size(img.size), "Containers": "N/A",
                "SharedSize": "N/A", "UniqueSize": "N/A", "VirtualSize": human_size(img.size),
                "_image": img,
            })
    return rows


def images_filter(rows: list[dict], filters: dict, find=None) -> list[dict]:
    """Keep the rows that match. ``find(ref)`` -> Image (for before= and since=)."""
    for v in filters.get("dangling", ()):
        if v not in ("true", "false", "1", "0"):
            raise ConfigError("filter", f"dangling={v}", "must be true or false")
    edges = {}
    for key in ("before", "since"):
        for v in filters.get(key, ()):
            img = find(v) if find else None
            if img is None or img.created is None:
                raise ConfigError("filter", f"{key}={v}", "names no image in the store (or one without a date)",
                                  hint="see `minictr images`")
            edges.setdefault(key, []).append(img.created)
    out = []
    for r in rows:
        img = r["_image"]
        dangling = not img.names
        if "dangling" in filters and not any((v in ("true", "1")) == dangling for v in filters["dangling"]):
            continue
        if "reference" in filters:
            if dangling:
                continue
            full = f"{r['Repository']}:{r['Tag']}"
            if not any(fnmatch.fnmatchcase(r["Repository"], p) or fnmatch.fnmatchcase(full, p)
                       or fnmatch.fnmatchcase(_familiar(r["Repository"]), p)
                       or fnmatch.fnmatchcase(f"{_familiar(r['Repository'])}:{r['Tag']}", p)
                       for p in filters["reference"]):
                continue
        if "label" in filters and not _labels_match(img.config.get("Labels") or {}, filters["label"]):
            continue
        if "before" in edges and not (img.created and all(img.created < t for t in edges["before"])):
            continue
        if "since" in edges and not (img.created and all(img.created > t for t in edges["since"])):
            continue
        out.append(r)
    return out


def _familiar(repo: str) -> str:
    for p in ("docker.io/library/", "docker.io/"):
        if repo.startswith(p):
            return repo[len(p):]
    return repo


# ---------------------------------------------------------------- output
def render_rows(fmt: str, rows: list[dict], headers: dict[str, str]) -> str:
    """Each row through the template; with ``table``, a header and aligned columns (docker's tabwriter)."""
    from .cli_format import format_table, render_template
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table"):].strip() or "\\t".join("{{." + k + "}}" for k in headers)
    lines = [render_template(fmt, r) for r in rows]
    if not table:
        return "\n".join(lines)
    head = render_template(fmt, {**{k: v for k, v in headers.items()}, "Label": lambda k: k.upper()})
    cells = [head.split("\t")] + [line.split("\t") for line in lines]
    width = max(len(c) for c in cells)
    return format_table([c + [""] * (width - len(c)) for c in cells])
