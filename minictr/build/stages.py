"""L1: the stages of a Containerfile and the graph they make.

Each ``FROM`` starts a stage (Dockerfile reference, "Multi-stage builds"). A
stage depends on another when its FROM names that stage (``FROM build``: by
its ``AS`` name, case-insensitive) or when one of its ``COPY --from=`` names it
(by name or by index, ``--from=0``); a ``--from`` that names no stage is an
image. As BuildKit does, every name is looked up among *all* stages, so the
dependencies can point forwards, and the graph is checked for cycles once all
stages are read. ``Containerfile.plan(target)`` gives the stages that
``--target`` needs, each after those it depends on (the rest are skipped, as
BuildKit skips them).
"""

from __future__ import annotations

from ..errors import BuildError
from ..record import Record


class Stage(Record):
    """``FROM base AS name`` and the instructions after it (the FROM itself is ``instructions[0]``)."""
    index: int
    name: str | None         # lower case, as docker keeps it
    base: str                # the substituted FROM argument: an image, "scratch", or a stage name
    base_stage: int | None   # the stage it builds on, if ``base`` names one
    line: int
    instructions: tuple
    env: tuple = ()          # the ENV it ends with (what a stage built on it inherits)


class Containerfile(Record):
    """A parsed file: its stages in file order and what was noted while reading it."""
    filename: str
    stages: tuple
    global_args: tuple = ()  # (name, value) of the ARGs before the first FROM
    escape: str = "\\"
    syntax: str | None = None
    notes: tuple = ()        # "Containerfile:1: --platform is ignored ..." lines for the user

    def stage(self, ref: str | int) -> Stage:
        """The stage called ``ref`` (a name, or an index as in ``--from=0``)."""
        found = find_stage(self.stages, str(ref))
        if found is None:
            raise BuildError(self.filename, 0, f"no stage named {ref!r}",
                             hint="the stages are: " + ", ".join(st.name or str(st.index) for st in self.stages))
        return self.stages[found]

    def plan(self, target: str | None = None) -> list:
        """The stages to build for ``target`` (default: the last), each after the ones it needs."""
        last = self.stage(target) if target is not None else self.stages[-1]
        order: list[int] = []

        def visit(i: int) -> None:
            if i not in order:
                for dep in deps(self.stages[i], self.stages):
                    visit(dep)
                order.append(i)
        visit(last.index)
        return [self.stages[i] for i in order]


    def images(self, target: str | None = None) -> list:
        """The images the ``plan(target)`` needs from the store: (line, reference, what) for
        each FROM that names no stage (``scratch`` aside) and each ``COPY --from`` that names
        no stage. The builder checks them first, so a typo in ``--from=buildr`` is refused
        with its line before anything runs (docker would try to pull ``buildr``)."""
        out = []
        for st in self.plan(target):
            if st.base_stage is None and st.base != "scratch":
                out.append((st.line, st.base, "FROM"))
            for ins in st.instructions:
                ref = ins.flag("from") if ins.cmd == "COPY" else None
                if ref is not None and find_stage(self.stages, ref) is None:
                    out.append((ins.line, ref, "COPY --from"))
        return out


def find_stage(stages, ref: str) -> int | None:
    """The index of the stage ``ref`` names (its name, or its number), or None: an image."""
    for st in stages:
        if st.name is not None and st.name == ref.lower():
            return st.index
    if ref.isdigit() and int(ref) < len(stages):
        return int(ref)
    return None


def deps(stage: Stage, stages) -> list[int]:
    """The stages ``stage`` needs: its base, and those it copies from."""
    out = [stage.base_stage] if stage.base_stage is not None else []
    for ins in stage.instructions:
        ref = ins.flag("from") if ins.cmd == "COPY" else None
        found = find_stage(stages, ref) if ref is not None else None
        if found is not None:
            out.append(found)
    return out


def check_graph(file: str, heads: list, bases: list, froms: list, names: dict) -> None:
    """Refuse a ``--from`` index that names no stage, and any cycle.

    ``heads[i]`` is stage i's (name, base, flags, line); ``bases[i]`` the stage its
    FROM names or None; ``froms[i]`` its COPYs' (line, --from value or None);
    ``names`` maps stage names to indexes."""
    for refs in froms:
        for line, ref in refs:
            if ref is not None and ref.isdigit() and int(ref) >= len(heads):
                raise BuildError(file, line, f"COPY --from={ref}: there is no stage {ref}",
                                 hint=f"stages are numbered from 0 to {len(heads) - 1}")
    state = [0] * len(heads)  # 0 new, 1 on the current path, 2 done

    def label(i: int) -> str:
        return heads[i][0] or f"stage {i}"

    def visit(i: int, path: list) -> None:
        state[i] = 1
        edges = [(heads[i][3], bases[i])] + [(ln, _ref_index(r, names)) for ln, r in froms[i]]
        for line, dep in edges:
            if dep is None:
                continue
            if state[dep] == 1:
                full = path + [i]
                cycle = [label(k) for k in full[full.index(dep):] + [dep]]
                raise BuildError(file, line, "stage cycle: " + " -> ".join(cycle),
                                 hint="a stage cannot build on or copy from itself, directly or not")
            if state[dep] == 0:
                visit(dep, path + [i])
        state[i] = 2
    for i in range(len(heads)):
        if state[i] == 0:
            visit(i, [])


def base_order(bases: list) -> list[int]:
    """Stage indexes with each stage after the one its FROM names (for inheriting its ENV)."""
    order: list[int] = []

    def visit(i: int) -> None:
        if i in order:
            return
        if bases[i] is not None:
            visit(bases[i])
        order.append(i)
    for i in range(len(bases)):
        visit(i)
    return order


def _ref_index(ref: str | None, names: dict) -> int | None:
    if ref is None:
        return None
    if ref.lower() in names:
        return names[ref.lower()]
    return int(ref) if ref.isdigit() else None
