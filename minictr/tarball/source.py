"""L1: reading a tar source for the extractor: a path or a file object, plain or compressed.

Two ways through the archive, the same extractor for both:

- a plain tar in a regular file (a rootfs tarball, a cached layer): tarfile's
  random-access mode reads only the headers, and the kernel copies each
  file's bytes straight from the archive to the new file (copy_file_range(2),
  falling back to sendfile(2), then pread(2); no trip through Python);
- anything else (gzip, bzip2, xz, a pipe, an HTTP body, BytesIO): one pass
  in tarfile's stream mode, the compression sniffed from the magic bytes
  (zstd is recognised and refused with a hint).

``walk(source, visit, progress)`` opens the source, hands every member to
``visit(tarfile, member, copy)`` where ``copy(tarfile, member, fd)`` writes the
member's bytes to ``fd``, reports progress, and turns an unreadable archive
into one ``errors.InvalidImage`` line.

Speed, measured on a tmpfs with the 51 MB, 1501-member Python stdlib: GNU tar
61 ms, minictr 148 ms (Python's 28 ms start included); gzip: GNU tar 415 ms,
minictr 477 ms.

Man pages and formats: tar(5), copy_file_range(2), sendfile(2), pread(2);
RFC 1952 (gzip), the bzip2 and xz magic numbers.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from typing import IO, BinaryIO, Callable, Union

from ..errors import InvalidImage

#: Reads of file contents. Big enough to pay few Python calls per byte, small
#: enough not to churn the allocator (measured: 1 MiB reads were 2x slower).
BUFSIZE = 256 << 10
#: tarfile's own read size in stream mode. Its buffer is re-sliced for every
#: 512-byte header, so a big one costs a copy per member.
STREAM_BUFSIZE = 64 << 10

Progress = Callable[[int, Union[int, None]], None]
#: copy(tarfile, member, fd) -> bytes written
Copier = Callable[[tarfile.TarFile, tarfile.TarInfo, int], int]
Source = Union[str, os.PathLike, IO[bytes]]


def walk(source: Source, visit: Callable[[tarfile.TarFile, tarfile.TarInfo, Copier], None],
         progress: Progress | None = None) -> None:
    """Call ``visit(tf, member, copy)`` for every member of ``source``, in order.

    ``source`` is a path or a binary file object, read once from start to end.
    ``progress(bytes_done, bytes_total_or_None)`` is called as it is read.
    Raises ``InvalidImage`` for a missing, truncated or unreadable archive
    (also when ``visit``'s copy finds a member cut short).
    """
    own = None
    if isinstance(source, (str, os.PathLike)):
        try:
            own = raw = open(source, "rb", buffering=0)
        except FileNotFoundError:
            raise InvalidImage(f"tarball {os.fspath(source)!r} does not exist",
                               hint="check the path") from None
    else:
        raw = source
    try:
        fd = start = total = None
        try:
            fd = raw.fileno()
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                start = raw.tell()
                total = st.st_size - start
            else:
                fd = None
        except (AttributeError, OSError, ValueError):  # BytesIO, sockets, wrappers
            fd = None
        try:
            head = os.pread(fd, 512, start) if fd is not None else b""
            _check_not_zstd(head)
            if fd is not None and not head.startswith(_COMPRESSED_MAGIC):
                with tarfile.open(fileobj=raw, mode="r:") as tf:
                    copy = _RangeCopier(fd)
                    for member in tf:
                        visit(tf, member, copy)
                        if progress is not None:
                            progress(min(tf.offset - start, total), total)
                raw.seek(start + total)
                if progress is not None:
                    progress(total, total)
            else:
                reader = _CountingReader(raw, total, progress)
                with tarfile.open(fileobj=reader, mode="r|*", bufsize=STREAM_BUFSIZE) as tf:
                    for member in tf:
                        visit(tf, member, _stream_copy)
                reader.drain()
        except tarfile.TarError as e:
            raise InvalidImage(f"cannot read tarball: {e}",
                               hint="the file is truncated or not a tar archive") from None
        except EOFError as e:
            raise InvalidImage(f"cannot read tarball: unexpected end of data ({e})",
                               hint="the file is truncated") from None
    finally:
        if own is not None:
            own.close()


_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _check_not_zstd(head: bytes) -> None:
    if head.startswith(_ZSTD_MAGIC):
        raise InvalidImage("zstd-compressed tarballs are not supported",
                           hint="decompress it first: zstd -d layer.tar.zst")

class _CountingReader:
    """Wraps the raw (maybe compressed) stream to report progress and sniff the format."""

    def __init__(self, raw: BinaryIO, total: int | None, progress: Progress | None):
        self.raw = raw
        self.total = total
        self.progress = progress
        self.done = 0
        self._head = raw.read(512)
        _check_not_zstd(self._head)

    def read(self, n: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            if n is None or n < 0:
                data += self.raw.read()
            elif n > len(data):
                data += self.raw.read(n - len(data))
        else:
            data = self.raw.read() if n is None or n < 0 else self.raw.read(n)
        self.done += len(data)
        if self.progress is not None and data:
            self.progress(self.done, self.total)
        return data

    def drain(self) -> None:
        """Read what tar leaves behind (end padding, gzip trailer) so progress ends at 100%."""
        while self.read(BUFSIZE):
            pass


def _stream_copy(tf: tarfile.TarFile, m: tarfile.TarInfo, fd: int) -> int:
    """Copy a member's contents through Python (any source, sparse members too)."""
    src = tf.extractfile(m)
    n = 0
    if src is not None:
        while True:
            chunk = src.read(BUFSIZE)
            if not chunk:
                break
            _write_all(fd, chunk)
            n += len(chunk)
    return n


class _RangeCopier:
    """Copy a member's contents from the archive's fd by offset, inside the kernel."""

    def __init__(self, src_fd: int):
        self.src_fd = src_fd
        self.how = "copy_file_range"

    def __call__(self, tf: tarfile.TarFile, m: tarfile.TarInfo, fd: int) -> int:
        if m.sparse is not None:  # GNU sparse files keep holes in a map: let tarfile expand it
            return _stream_copy(tf, m, fd)
        off, left = m.offset_data, m.size
        while left:
            n = self._some(off, fd, left)
            if n == 0:
                raise InvalidImage(f"cannot read tarball: member {m.name!r} is cut short",
                                   hint="the file is truncated")
            off += n
            left -= n
        return m.size

    def _some(self, off: int, fd: int, count: int) -> int:
        count = min(count, 1 << 30)
        if self.how == "copy_file_range":
            try:
                return os.copy_file_range(self.src_fd, fd, count, off)
            except OSError as e:
                # EXDEV/EINVAL/ENOSYS/EOPNOTSUPP: not between these filesystems or kernels.
                if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                self.how = "sendfile"
        if self.how == "sendfile":
            try:
                return os.sendfile(fd, self.src_fd, off, count)
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.ENOSYS):
                    raise
                self.how = "pread"
        data = os.pread(self.src_fd, min(count, BUFSIZE), off)
        _write_all(fd, data)
        return len(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
