"""L4: Go's text/template, the part ``docker ... --format`` uses, over JSON-like data.

What a template can hold (text/template's package doc, docker's formatter)::

    {{.Config.Cmd}}                   a field; ``.`` is the current value, ``$`` the top one
    {{json .Config.Env}}              a function call; arguments are fields, "strings", numbers
    {{.Name | upper}}                 a pipeline: the value becomes the last argument
    {{if .State.Running}}..{{else if ..}}..{{else}}..{{end}}
    {{range .Config.Env}}{{.}} {{end}}   ``range $k, $v := .Labels`` too; maps in key order
    {{with .State}}{{.Pid}}{{end}}
    {{- ... -}}                       trim the spaces around the action

Functions: Go's ``index len not and or eq ne lt le gt ge print printf println
slice``, and docker's ``json join split upper lower title truncate pad``.
A value that is callable (docker's ps ``{{.Label "k"}}``) is called with the
arguments.

Printing follows Go's fmt ``%v``: ``[a b]`` for slices, ``map[k:v]`` with
sorted keys, ``{}`` for an empty struct in a map (docker's
``map[53/udp:{} 8080/tcp:{}]``), a null list ``[]``, and ``<no value>`` only
for a key that is missing. ``json`` is compact, without HTML escaping (as
docker's). Errors are one ``ConfigError`` line.
"""

from __future__ import annotations

import json
import re

from .errors import ConfigError

MISSING = type("Missing", (), {"__repr__": lambda self: "<no value>"})()

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>\.(?:[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>[()|]|:=|,)
)""", re.X)


class _Node:
    __slots__ = ("kind", "pipe", "body", "alt", "vars", "text")

    def __init__(self, kind, pipe=None, text="", vars=()):
        self.kind, self.pipe, self.text, self.vars = kind, pipe, text, vars
        self.body, self.alt = [], []


def _fail(template: str, why: str):
    raise ConfigError("format", template, why,
                      hint="Go template syntax, e.g. '{{.Name}}', '{{json .Config}}', '{{range .Config.Env}}{{.}} {{end}}'")


def _lex_actions(template: str):
    """Split into ("text", s) and ("action", s), applying ``{{-`` and ``-}}``."""
    out, pos = [], 0
    while True:
        i = template.find("{{", pos)
        if i < 0:
            out.append(("text", template[pos:]))
            return out
        j = template.find("}}", i)
        if j < 0:
            _fail(template, "an action is not closed with }}")
        text, inner = template[pos:i], template[i + 2:j]
        if inner.startswith("- "):
            text, inner = text.rstrip(), inner[1:]
        trim_after = inner.endswith(" -")
        if trim_after:
            inner = inner[:-1]
        out.append(("text", text))
        out.append(("action", inner.strip()))
        pos = j + 2
        if trim_after:
            while pos < len(template) and template[pos].isspace():
                pos += 1


def _tokens(template: str, src: str) -> list:
    toks, pos = [], 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            _fail(template, f"cannot read {src[pos:].strip()!r} in {{{{{src}}}}}")
        kind = m.lastgroup
        toks.append((kind, m.group(kind)))
        pos = m.end()
    return toks


def parse(template: str) -> list:
    root: list = []
    stack = [(_Node("root"), root)]
    for kind, s in _lex_actions(template):
        cur = stack[-1][1]
        if kind == "text":
            if s:
                cur.append(_Node("text", text=s))
            continue
        if s.startswith("/*"):
            continue
        word = s.split(None, 1)[0] if s else ""
        rest = s[len(word):].strip()
        if word in ("if", "range", "with"):
            vars_ = ()
            toks = _tokens(template, rest)
            if word == "range" and ("op", ":=") in toks:
                k = toks.index(("op", ":="))
                vars_ = tuple(v for t, v in toks[:k] if t == "var")
                toks = toks[k + 1:]
            node = _Node(word, pipe=_pipeline(template, toks), vars=vars_)
            cur.append(node)
            stack.append((node, node.body))
        elif word == "else":
            if len(stack) < 2:
                _fail(template, "{{else}} outside if, range or with")
            node = stack[-1][0]
            if rest.startswith("if "):  # {{else if x}} is {{else}}{{if x}} ... with one {{end}}
                inner = _Node("if", pipe=_pipeline(template, _tokens(template, rest[3:])))
                inner.text = "elseif"
                node.alt.append(inner)
                stack[-1] = (node, node.alt)
                stack.append((inner, inner.body))
            else:
                stack[-1] = (node, node.alt)
        elif word == "end":
            if len(stack) < 2:
                _fail(template, "{{end}} without if, range or with")
            node = stack.pop()[0]
            while node.kind == "if" and node.text == "elseif":  # its {{end}} closes the outer if too
                node = stack.pop()[0]
        else:
            cur.append(_Node("action", pipe=_pipeline(template, _tokens(template, s))))
    if len(stack) > 1:
        _fail(template, f"{{{{{stack[-1][0].kind}}}}} is not closed with {{{{end}}}}")
    return root


def _pipeline(template: str, toks: list) -> list:
    """A pipeline as a list of commands, each a list of operands (tokens or sub-pipelines)."""
    cmds, cur, i = [], [], 0
    while i < len(toks):
        t = toks[i]
        if t == ("op", "|"):
            cmds.append(cur)
            cur = []
        elif t == ("op", "("):
            depth, j = 1, i + 1
            while j < len(toks) and depth:
                depth += {("op", "("): 1, ("op", ")"): -1}.get(toks[j], 0)
                j += 1
            if depth:
                _fail(template, "unbalanced parentheses")
            cur.append(("pipe", _pipeline(template, toks[i + 1:j - 1])))
            i = j
            continue
        elif t[0] == "op":
            _fail(template, f"unexpected {t[1]!r}")
        else:
            cur.append(t)
        i += 1
    cmds.append(cur)
    if any(not c for c in cmds):
        _fail(template, "an empty command in a pipeline")
    return cmds


# ---------------------------------------------------------------- evaluation
def _get(value, path: str):
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        else:
            return MISSING
    return value


def truth(v) -> bool:
    return not (v is None or v is MISSING or v is False or v == 0 or v == "" or v == [] or v == {})


def _call_fn(template, name, args):
    fn = FUNCS.get(name)
    if fn is None:
        _fail(template, f'function "{name}" not defined')
    try:
        return fn(*args)
    except ConfigError:
        raise
    except (TypeError, ValueError, IndexError, KeyError) as e:
        _fail(template, f"error calling {name}: {e}")


def _eval_pipe(template, pipe, dot, vars_):
    result, first = None, True
    for cmd in pipe:
        args = [] if first else [result]
        result = _eval_cmd(template, cmd, dot, vars_, args)
        first = False
    return result


def _operand(template, tok, dot, vars_):
    kind, s = tok
    if kind == "pipe":
        return _eval_pipe(template, s, dot, vars_)
    if kind == "field":
        return dot if s == "." else _get(dot, s)
    if kind == "var":
        name, _, path = s.partition(".")
        if name not in vars_:
            _fail(template, f"undefined variable {name}")
        return _get(vars_[name], path)
    if kind == "str":
        return s[1:-1] if s[0] == "`" else json.loads(s)
    if kind == "num":
        return float(s) if "." in s else int(s)
    if kind == "ident" and s in ("true", "false", "nil"):
        return {"true": True, "false": False, "nil": None}[s]
    _fail(template, f"unexpected {s!r}")


def _eval_cmd(template, cmd, dot, vars_, piped):
    head = cmd[0]
    if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
        args = [_operand(template, t, dot, vars_) for t in cmd[1:]] + piped
        return _call_fn(template, head[1], args)
    value = _operand(template, head, dot, vars_)
    if callable(value):
        return value(*[_operand(template, t, dot, vars_) for t in cmd[1:]], *piped)
    if len(cmd) > 1 or piped:
        _fail(template, f"{head[1]} is not a function: it cannot take arguments")
    return value


def _exec(template, nodes, dot, vars_, out):
    for n in nodes:
        if n.kind == "text":
            out.append(n.text)
        elif n.kind == "action":
            out.append(go_string(_eval_pipe(template, n.pipe, dot, vars_)))
        elif n.kind in ("if", "with"):
            v = _eval_pipe(template, n.pipe, dot, vars_)
            if truth(v):
                _exec(template, n.body, v if n.kind == "with" else dot, vars_, out)
            else:
                _exec(template, n.alt, dot, vars_, out)
        elif n.kind == "range":
            v = _eval_pipe(template, n.pipe, dot, vars_)
            if isinstance(v, dict):
                items = [(k, v[k]) for k in sorted(v)]
            elif isinstance(v, (list, tuple)):
                items = list(enumerate(v))
            elif v is None or v is MISSING:
                items = []
            elif isinstance(v, int):
                items = [(i, i) for i in range(v)]
            else:
                _fail(template, f"range can't iterate over {go_string(v)}")
            if not items:
                _exec(template, n.alt, dot, vars_, out)
            for k, item in items:
                inner = dict(vars_)
                if len(n.vars) == 1:
                    inner[n.vars[0]] = item
                elif len(n.vars) == 2:
                    inner[n.vars[0]], inner[n.vars[1]] = k, item
                _exec(template, n.body, item, inner, out)


def render(template: str, obj) -> str:
    """Execute ``template`` with ``obj`` as ``.`` and ``$``."""
    out: list[str] = []
    _exec(template, parse(template), obj, {"$": obj}, out)
    return "".join(out)


# ---------------------------------------------------------------- printing, as Go's fmt %v
def go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64), what %v prints: shortest digits, ``1e+06`` from exponent 6."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    from decimal import Decimal
    sign, digits, e = Decimal(repr(f)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    exp = len(ds) + e - 1
    if exp < -4 or exp >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{'-' if sign else ''}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return ("-" if sign else "") + format(abs(Decimal(repr(f))).normalize(), "f")


def go_string(v, nested: bool = False) -> str:
    """Print a value the way Go's text/template does: [a b], map[k:v], <no value>."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "[]"  # docker's null lists (Entrypoint, Cmd) print as an empty slice
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_string(x, True) for x in v) + "]"
    if isinstance(v, dict):
        if not v and nested:
            return "{}"  # an empty struct, as in ExposedPorts' map[8080/tcp:{}]
        return "map[" + " ".join(f"{k}:{go_string(v[k], True)}" for k in sorted(v)) + "]"
    return str(v)


def _json(v) -> str:
    return json.dumps(None if v is MISSING else v, separators=(",", ":"), ensure_ascii=False)


def _index(v, *keys):
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k, MISSING)
        elif isinstance(v, (list, tuple, str)):
            if not isinstance(k, int) or not -1 < k < len(v):
                raise IndexError(f"index {k} out of range")
            v = v[k]
        else:
            raise TypeError(f"can't index item of type {type(v).__name__}")
    return v


def _cmp(op):
    def f(a, *bs):
        if op == "eq":  # Go: eq a b c is a==b || a==c
            return any(a == b for b in bs)
        b = bs[0]
        return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
    return f


def _printf(fmt, *args):
    args = list(args)

    def one(m):
        verb = m.group(0)
        if verb == "%%":
            return "%"
        a = args.pop(0) if args else MISSING
        if verb[-1] == "q":
            return json.dumps(str(a))
        if verb[-1] in "dsvf" and not verb[1:-1]:
            return go_string(a)
        return (verb.replace("v", "s") % (a,))
    return re.sub(r"%[-+ 0#]*\d*(?:\.\d+)?[a-zA-Z%]", one, fmt)


def _and(*a):
    for x in a:
        if not truth(x):
            return x
    return a[-1]


def _or(*a):
    for x in a:
        if truth(x):
            return x
    return a[-1]


FUNCS = {
    "json": _json,
    "index": _index,
    "len": lambda v: len(v),
    "not": lambda v: not truth(v),
    "and": _and,
    "or": _or,
    "eq": _cmp("eq"), "ne": _cmp("ne"), "lt": _cmp("lt"), "le": _cmp("le"), "gt": _cmp("gt"), "ge": _cmp("ge"),
    "print": lambda *a: " ".join(go_string(x) for x in a),
    "println": lambda *a: " ".join(go_string(x) for x in a) + "\n",
    "printf": _printf,
    "slice": lambda v, *i: v[i[0]:(i[1] if len(i) > 1 else None)] if i else v,
    "join": lambda v, sep: sep.join(go_string(x) for x in (v or [])),
    "split": lambda s, sep: s.split(sep),
    "upper": lambda s: go_string(s).upper(),
    "lower": lambda s: go_string(s).lower(),
    "title": lambda s: go_string(s).title(),
    "truncate": lambda s, n: go_string(s)[:n],
    "pad": lambda s, before, after: " " * before + go_string(s) + " " * after,
}
