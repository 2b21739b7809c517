"""The Containerfile parser: tables of good input and its records, bad input and its exact line."""

from __future__ import annotations

import pytest

from minictr.build import parser
from minictr.build.words import WordError, expand, split_words
from minictr.errors import BuildError, ConfigError


def only(text: str, **kw) -> list:
    """The instructions of the first stage after FROM, as (cmd, args, flags, pairs, exec_form)."""
    cf = parser.parse(text, **kw)
    return [(i.cmd, i.args, dict(i.flags), i.pairs, i.exec_form) for i in cf.stages[0].instructions[1:]]


# ---- words ---------------------------------------------------------------------------------

ENV = {"A": "1", "E": "", "P": "/usr/bin"}


@pytest.mark.parametrize("word,want", [
    ("$A", "1"), ("${A}", "1"), ("x${A}y", "x1y"), ("$Ax", ""), ("${MISSING}", ""),
    ("${MISSING:-def}", "def"), ("${E:-def}", "def"), ("${E-def}", ""), ("${A:-def}", "1"),
    ("${A:+alt}", "alt"), ("${E:+alt}", ""), ("${E+alt}", "alt"), ("${MISSING:+alt}", ""),
    ("${MISSING:-$A/x}", "1/x"), ("${MISSING:-${P}}", "/usr/bin"),
    (r"\$A", "$A"), (r"\${A}", "${A}"), ("'$A'", "$A"), ('"$A b"', "1 b"), (r'"a\"b"', 'a"b'),
    (r'"a\qb"', r"a\qb"), (r"a\ b", "a b"), ("$", "$"), ("a$ b", "a$ b"), ("$1", "$1"),
])
def test_expand(word, want):
    assert expand(word, ENV) == want


def test_expand_with_backtick_escape_keeps_backslashes():
    assert expand(r"C:\dir\$A", ENV, escape="`") == r"C:\dir\1"
    assert expand(r"`$A", ENV, escape="`") == "$A"


def test_expand_records_the_names_it_looked_up():
    used = set()
    expand("$A ${B:-x} ${E:+y} \\$C", ENV, used=used)
    assert used == {"A", "B", "E"}


@pytest.mark.parametrize("word,msg", [
    ("'open", "unmatched ' quote"), ('"open', 'unmatched " quote'),
    ("${A", "missing '}' in '${A'"), ("${}", "bad substitution in '${}': no variable name after '${'"),
    ("${A/x}", "bad substitution in '${A/x}': expected '}', ':-', ':+' or ':?' after '${A'"),
    ("${MISSING:?must be set}", "MISSING: must be set"),
])
def test_expand_refuses(word, msg):
    with pytest.raises(WordError) as e:
        expand(word, ENV)
    assert str(e.value) == msg


def test_split_words_keeps_quotes_for_expand():
    assert split_words('a "b c" d\\ e \'f g\'') == ["a", '"b c"', "d\\ e", "'f g'"]


# ---- good files ----------------------------------------------------------------------------

GOOD = [
    # (containerfile after "FROM busybox\n", [(cmd, args, flags, pairs, exec_form)])
    ("RUN echo hi", [("RUN", ("echo hi",), {}, (), False)]),
    ('RUN ["/bin/echo", "hi"]', [("RUN", ("/bin/echo", "hi"), {}, (), True)]),
    ("RUN [ -f /x ] && echo $HOME", [("RUN", ("[ -f /x ] && echo $HOME",), {}, (), False)]),
    ("RUN echo a \\\n  # dropped comment\n\n  && echo b",
     [("RUN", ("echo a && echo b",), {}, (), False)]),
    ("run echo lower case", [("RUN", ("echo lower case",), {}, (), False)]),
    ("RUN echo a # not a comment", [("RUN", ("echo a # not a comment",), {}, (), False)]),
    ("COPY a b /dst/", [("COPY", ("a", "b", "/dst/"), {}, (), False)]),
    ('COPY ["a b", "/dst"]', [("COPY", ("a b", "/dst"), {}, (), True)]),
    ("COPY --chown=1:2 --chmod=0755 a /x", [("COPY", ("a", "/x"), {"chown": "1:2", "chmod": "0755"}, (), False)]),
    ("COPY --from=alpine:3 /a /b", [("COPY", ("/a", "/b"), {"from": "alpine:3"}, (), False)]),
    ("ADD --chown=app app.tar /opt/", [("ADD", ("app.tar", "/opt/"), {"chown": "app"}, (), False)]),
    ("ENV K V with spaces", [("ENV", (), {}, (("K", "V with spaces"),), False)]),
    ('ENV K=v K2="a b" K3=a\\ b', [("ENV", (), {}, (("K", "v"), ("K2", "a b"), ("K3", "a b")), False)]),
    ("ENV A=1\nENV B=$A C=${A}x", [("ENV", (), {}, (("A", "1"),), False),
                                   ("ENV", (), {}, (("B", "1"), ("C", "1x")), False)]),
    ("ENV A=1 B=$A", [("ENV", (), {}, (("A", "1"), ("B", "")), False)]),  # same line: the old A
    ("LABEL a=b \"c d\"=e", [("LABEL", (), {}, (("a", "b"), ("c d", "e")), False)]),
    ("WORKDIR /a b", [("WORKDIR", ("/a b",), {}, (), False)]),
    ("ENV D=/srv\nWORKDIR $D/app", [("ENV", (), {}, (("D", "/srv"),), False), ("WORKDIR", ("/srv/app",), {}, (), False)]),
    ("USER app:grp", [("USER", ("app:grp",), {}, (), False)]),
    ("USER ${U:-nobody}", [("USER", ("nobody",), {}, (), False)]),
    ("EXPOSE 80 53/UDP 8000-8010/tcp", [("EXPOSE", ("80/tcp", "53/udp", "8000-8010/tcp"), {}, (), False)]),
    ("STOPSIGNAL SIGKILL", [("STOPSIGNAL", ("SIGKILL",), {}, (), False)]),
    ("STOPSIGNAL usr1", [("STOPSIGNAL", ("SIGUSR1",), {}, (), False)]),
    ("STOPSIGNAL 9", [("STOPSIGNAL", ("9",), {}, (), False)]),
    ('SHELL ["/bin/bash", "-ec"]', [("SHELL", ("/bin/bash", "-ec"), {}, (), True)]),
    ("VOLUME /a /b", [("VOLUME", ("/a", "/b"), {}, (), False)]),
    ('VOLUME ["/a"]', [("VOLUME", ("/a",), {}, (), True)]),
    ("CMD echo hi", [("CMD", ("echo hi",), {}, (), False)]),
    ("CMD []", [("CMD", (), {}, (), True)]),
    ('ENTRYPOINT ["/bin/sh", "-c"]', [("ENTRYPOINT", ("/bin/sh", "-c"), {}, (), True)]),
    ("ENV X=\\$HOME", [("ENV", (), {}, (("X", "$HOME"),), False)]),
    ("ARG A=1 B\nENV C=$A$B", [("ARG", (), {}, (("A", "1"), ("B", None)), False),
                               ("ENV", (), {}, (("C", "1"),), False)]),
]


@pytest.mark.parametrize("body,want", GOOD)
def test_good(body, want):
    assert only("FROM busybox\n" + body + "\n") == want


def test_escape_directive_backtick():
    cf = parser.parse("# escape=`\nFROM busybox\nRUN dir C:\\x `\n  && echo `$A\nCOPY a\\b c\\\n")
    ins = cf.stages[0].instructions
    assert cf.escape == "`"
    assert ins[1].args == ("dir C:\\x && echo `$A",)
    assert ins[2].args == ("a\\b", "c\\")


def test_directives_only_at_the_top():
    cf = parser.parse("# a comment\n# escape=`\nFROM busybox\nRUN a \\\n b\n")
    assert cf.escape == "\\" and cf.stages[0].instructions[1].args == ("a b",)
    cf = parser.parse("# syntax=docker/dockerfile:1\nFROM busybox\n")
    assert cf.syntax == "docker/dockerfile:1"
    assert cf.notes == ("Containerfile:1: the syntax directive is ignored: minictr reads the Dockerfile format itself",)


def test_stages_names_and_line_numbers():
    cf = parser.parse("ARG V=1\n\nFROM busybox:$V AS Build\nRUN a \\\n b\n\nfrom scratch\nCOPY --from=build /x /x\n")
    assert [(s.index, s.name, s.base, s.base_stage, s.line) for s in cf.stages] == [
        (0, "build", "busybox:1", None, 3), (1, None, "scratch", None, 7)]
    assert [i.line for i in cf.stages[0].instructions] == [3, 4]
    assert cf.stages[0].instructions[1].original == "RUN a b"
    assert cf.stages[0].instructions[0].build_args == (("V", "1"),)
    assert [s.index for s in cf.plan()] == [0, 1]
    assert [s.index for s in cf.plan("build")] == [0]
    assert cf.stage("0") is cf.stages[0]


def test_from_an_earlier_stage_inherits_its_env():
    cf = parser.parse("FROM busybox AS a\nENV P=/opt\nFROM a\nWORKDIR $P/x\n")
    assert cf.stages[1].base_stage == 0
    assert cf.stages[1].instructions[1].args == ("/opt/x",)
    assert [s.index for s in cf.plan()] == [0, 1]


def test_base_env_is_used_for_images():
    seen = []

    def base_env(image):
        seen.append(image)
        return {"PATH": "/bin:/usr/bin"}
    cf = parser.parse("FROM debian\nENV PATH=/opt/bin:$PATH\n", base_env=base_env)
    assert seen == ["debian"]
    assert cf.stages[0].instructions[1].pairs == (("PATH", "/opt/bin:/bin:/usr/bin"),)


def test_global_arg_scope():
    text = ("ARG V=1\nARG ONLY_FROM=x\nFROM busybox:$V\nRUN echo\nENV A=${V:-unset} B=$ONLY_FROM\n"
            "ARG V\nENV C=$V\n")
    ins = parser.parse(text).stages[0].instructions
    assert ins[2].pairs == (("A", "unset"), ("B", ""))  # global ARGs are not seen inside a stage...
    assert ins[3].pairs == (("V", "1"),)                # ...until ARG V redeclares them
    assert ins[4].pairs == (("C", "1"),)
    ins = parser.parse(text, build_args={"V": "2"}).stages[0].instructions
    assert ins[0].args == ("busybox:2",) and ins[4].pairs == (("C", "2"),)


def test_build_args_recorded_for_the_cache():
    cf = parser.parse("FROM busybox\nARG A=1\nARG B\nRUN echo\nENV E=x\nCOPY $A /y\n",
                      build_args={"B": "b", "UNUSED": "u"})
    ins = cf.stages[0].instructions
    assert ins[3].build_args == (("A", "1"), ("B", "b"))  # RUN: every ARG in scope
    assert ins[5].build_args == (("A", "1"),)             # COPY: the ones it names
    assert cf.notes == ("Containerfile: build args not consumed: UNUSED",)


def test_env_wins_over_arg():
    ins = parser.parse("FROM busybox\nARG X=arg\nENV X=env\nENV Y=$X\n").stages[0].instructions
    assert ins[3].pairs == (("Y", "env"),)


def test_platform_is_ignored_with_a_note():
    cf = parser.parse("FROM --platform=linux/arm64 busybox\n")
    assert cf.stages[0].base == "busybox"
    assert cf.notes == ("Containerfile:1: FROM --platform is ignored: minictr builds for this host",)


def test_continuation_at_end_of_file():
    assert only("FROM busybox\nRUN echo a \\\n") == [("RUN", ("echo a",), {}, (), False)]


# ---- bad files: the exact line -------------------------------------------------------------

BAD = [
    ("FROM busybox\nFORM x", "Containerfile:2: unknown instruction: FORM (hint: the instructions are ADD, ARG, "
     "CMD, COPY, ENTRYPOINT, ENV, EXPOSE, FROM, LABEL, MAINTAINER, RUN, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR)"),
    ("RUN x\nFROM busybox", "Containerfile:1: RUN before the first FROM (hint: only ARG may come before FROM; "
     "start the stage with FROM image)"),
    ("# only a comment\n", "Containerfile: no FROM instruction (hint: a Containerfile starts with FROM image "
     "(or FROM scratch))"),
    ("FROM", "Containerfile:1: FROM needs one image, optionally followed by AS name "
     "(hint: write FROM image or FROM image AS name)"),
    ("FROM a b", "Containerfile:1: FROM needs one image, optionally followed by AS name "
     "(hint: write FROM image or FROM image AS name)"),
    ("FROM $NOPE", "Containerfile:1: FROM names no image after substitution ('$NOPE') "
     "(hint: declare the ARG before the first FROM, or pass --build-arg)"),
    ("FROM a AS 1x", "Containerfile:1: invalid stage name '1x' (hint: a stage name starts with a letter and has "
     "only letters, digits, -, _ and .)"),
    ("FROM a AS x\nFROM b AS X", "Containerfile:2: duplicate stage name 'x' (hint: each AS name must be unique)"),
    ("FROM busybox\nRUN", "Containerfile:2: RUN needs arguments (hint: write RUN command or RUN [\"prog\", \"arg\"])"),
    ("FROM busybox\n\nCOPY a", "Containerfile:3: COPY needs a source and a destination (hint: write COPY "
     "[--from=stage] [--chown=u:g] [--chmod=mode] src... dest)"),
    ("FROM busybox\nCOPY a b /dst", "Containerfile:2: COPY with more than one source needs a destination that "
     "ends in / (hint: write /dst/)"),
    ("FROM busybox\nCOPY --form=x a b", "Containerfile:2: unknown flag for COPY: --form (hint: known: --from, "
     "--chown, --chmod, --link)"),
    ("FROM busybox\nCOPY --from a b", "Containerfile:2: COPY --from needs a value (hint: write --from=VALUE)"),
    ("FROM busybox\nADD https://example.com/x /x", "Containerfile:2: ADD from a URL is not supported: minictr "
     "builds offline (hint: download the file into the build context and COPY or ADD it from there)"),
    ('FROM busybox\nRUN ["a", b]', "Containerfile:2: RUN: bad JSON array: Expecting value at column 7 "
     "(hint: write [\"prog\", \"arg\"] with double quotes, or drop the brackets for the shell form)"),
    ("FROM busybox\nCMD [1, 2]", "Containerfile:2: CMD: the JSON form must be an array of strings "
     "(hint: write [\"prog\", \"arg\"])"),
    ("FROM busybox\nSHELL /bin/sh -c", "Containerfile:2: SHELL needs the JSON form "
     "(hint: write SHELL [\"/bin/sh\", \"-c\"])"),
    ("FROM busybox\nENV K", "Containerfile:2: ENV needs a value: ENV K VALUE (hint: or write NAME=VALUE)"),
    ("FROM busybox\nENV A=1 B", "Containerfile:2: ENV: 'B' is not NAME=VALUE (hint: quote values with spaces: "
     "NAME=\"a b\")"),
    ("FROM busybox\nENV A=\"open", "Containerfile:2: unmatched \" quote (hint: close the quote, or escape it)"),
    ("FROM busybox\nENV A=${B", "Containerfile:2: missing '}' in '${B' (hint: check the ${...} and the quotes)"),
    ("FROM busybox\nARG 1A=x", "Containerfile:2: invalid ARG name '1A' (hint: write ARG NAME or ARG NAME=default)"),
    ("FROM busybox\nEXPOSE 80/tcpx", "Containerfile:2: invalid port '80/tcpx' (hint: write PORT or PORT/tcp, "
     "PORT/udp, START-END/tcp)"),
    ("FROM busybox\nEXPOSE 70000", "Containerfile:2: invalid port '70000' (hint: write PORT or PORT/tcp, "
     "PORT/udp, START-END/tcp)"),
    ("FROM busybox\nSTOPSIGNAL SIGNOPE", "Containerfile:2: invalid stop signal 'SIGNOPE' "
     "(hint: write a name such as SIGTERM or a number)"),
    ("FROM busybox\nUSER a b", "Containerfile:2: USER takes exactly one argument (hint: write USER name[:group])"),
    ("FROM busybox\nUSER ${U}", "Containerfile:2: USER is empty after substitution (hint: write USER name[:group])"),
    ("FROM busybox\nONBUILD RUN x", "Containerfile:2: ONBUILD is not supported by minictr build "
     "(hint: remove it; minictr build has no equivalent)"),
    ("FROM busybox\nHEALTHCHECK CMD x", "Containerfile:2: HEALTHCHECK is not supported by minictr build "
     "(hint: remove it; minictr build has no equivalent)"),
    ("FROM busybox\nRUN <<EOF\necho\nEOF", "Containerfile:2: heredocs (<<EOF...) are not supported "
     "(hint: write the lines as RUN commands, or COPY a file from the context)"),
    ("FROM busybox\nRUN --mount=type=cache,target=/x make", "Containerfile:2: RUN --mount is not supported by "
     "minictr build (hint: remove the flag; RUN runs confined with no network)"),
    ("# escape=x\nFROM busybox", "Containerfile:1: invalid escape character 'x' (hint: use \\ or `)"),
    ("# escape=`\n# escape=\\\nFROM busybox", "Containerfile:2: only one escape parser directive can be used"),
    # the graph, checked after all stages are read
    ("FROM busybox AS a\nCOPY --from=a /x /y", "Containerfile:2: stage cycle: a -> a "
     "(hint: a stage cannot build on or copy from itself, directly or not)"),
    ("FROM busybox AS a\nCOPY --from=b /x /y\nFROM busybox AS b\nCOPY --from=a /x /y",
     "Containerfile:4: stage cycle: a -> b -> a (hint: a stage cannot build on or copy from itself, directly or not)"),
    ("FROM b AS a\nFROM a AS b", "Containerfile:2: stage cycle: a -> b -> a "
     "(hint: a stage cannot build on or copy from itself, directly or not)"),
    ("FROM busybox\nFROM busybox\nCOPY --from=2 /x /y", "Containerfile:3: COPY --from=2: there is no stage 2 "
     "(hint: stages are numbered from 0 to 1)"),
]


@pytest.mark.parametrize("text,msg", BAD)
def test_bad(text, msg):
    with pytest.raises(BuildError) as e:
        parser.parse(text + "\n")
    assert str(e.value) == msg
    assert isinstance(e.value, ConfigError)


def test_bad_target_and_the_error_fields():
    with pytest.raises(BuildError) as e:
        parser.parse("FROM busybox AS one\nFROM scratch AS two\n", filename="ctx/Dockerfile", target="three")
    assert str(e.value) == "ctx/Dockerfile: --target 'three' names no stage (hint: the named stages are: one, two)"
    assert (e.value.file, e.value.line) == ("ctx/Dockerfile", 0)
    with pytest.raises(BuildError) as e:
        parser.parse("FROM busybox\nBAD x\n", filename="ctx/Dockerfile")
    assert (e.value.file, e.value.line) == ("ctx/Dockerfile", 2)


def test_copy_from_a_name_that_is_no_stage_is_an_image():
    cf = parser.parse("FROM busybox\nCOPY --from=alpine /x /y\n")
    assert cf.stages[0].instructions[1].flag("from") == "alpine"
    assert [s.index for s in cf.plan()] == [0]


def test_platform_args_are_global_and_need_a_declaration_in_a_stage():
    from minictr.image.oci import host_platform
    arch = host_platform()["architecture"]
    cf = parser.parse("FROM busybox:$TARGETARCH\nENV A=$TARGETARCH\nARG TARGETARCH\nENV B=$TARGETARCH\n")
    ins = cf.stages[0].instructions
    assert ins[0].args == (f"busybox:{arch}",)
    assert ins[1].pairs == (("A", ""),) and ins[3].pairs == (("B", arch),)
    assert parser.platform_args()["TARGETPLATFORM"].startswith(f"linux/{arch}")


def test_images_the_plan_needs():
    cf = parser.parse("FROM busybox AS a\nCOPY --from=alpine:3 /x /y\nFROM scratch AS b\nCOPY --from=a /x /y\n"
                      "COPY --from=buildr /x /y\nFROM debian AS unused\n")
    assert cf.images("b") == [(1, "busybox", "FROM"), (2, "alpine:3", "COPY --from"), (5, "buildr", "COPY --from")]
    assert cf.images() == [(6, "debian", "FROM")]


def test_byte_order_mark_and_crlf():
    cf = parser.parse("\ufeff# escape=`\r\nFROM busybox\r\nRUN a `\r\n b\r\n")
    assert cf.escape == "`" and cf.stages[0].instructions[1].args == ("a b",)
