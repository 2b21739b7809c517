"""L1: building images from a Containerfile: the parser, the context, the layer diff, the cache.

One module per job::

    words.py    splitting a line into words, quotes, escapes, ``$VAR`` substitution
    parser.py   the Containerfile: stages of ``Instruction`` records, checked as a graph
    ignore.py   ``.containerignore`` / ``.dockerignore`` and the files a COPY source selects
    diff.py     an overlayfs upper dir -> an OCI layer tar (gzip) with whiteouts; diff id, digest
    cache.py    the cache key of an instruction
    metadata.py what ENV, CMD, WORKDIR ... do to the image config; history lines
    lines.py, stages.py   the parser's parts: logical lines and directives; the stage graph
    files.py    the files of a COPY/ADD step in an upper dir (owners, modes, new dirs)
    elf.py      an ELF program's interpreter and DT_NEEDED libraries (struct only)
    minimal.py  a minimal image from host programs (``minictr image from-binary``)
    builder.py  L3: ``minictr build``: the steps run (RUN in a minictr container), the cache, the commit

Specs: the Dockerfile reference (https://docs.docker.com/reference/dockerfile/),
the OCI image spec's layer.md ("Representing Changes", whiteouts), and
https://docs.kernel.org/filesystems/overlayfs.html (whiteouts, opaque directories).
"""
