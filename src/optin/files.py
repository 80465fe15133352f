"""Files written safely: the one atomic writer and the one secret-file maker.

* :func:`atomic_text` / :func:`atomic_binary` - context managers that stream into a
  temporary file in the target's directory (``.NAME.XXXX.tmp``), fsync it and rename it
  over the target on success, so a reader sees the old file or the new one, whole; on
  any error (or ``KeyboardInterrupt``) the temporary file is removed and the target is
  untouched; missing parent directories are created 0700. :func:`atomic_write_bytes`
  and :func:`atomic_write_json` are the one-shot forms.
* :func:`create_secret_file` - create a key file with mode 0600 only if it does not
  exist (``O_EXCL`` semantics: never overwrite, a concurrent creator wins), content
  complete before the name appears; missing parent directories are created 0700.
* :func:`file_lock` - hold an exclusive advisory lock (``flock``) on a lock file while
  a read-modify-write of another file runs, so two writers in separate processes or
  threads never lose each other's update.
* :func:`private_dir` - create a directory (and missing parents) with mode 0700.
* :func:`remove_stale_temps` - remove temporary files a killed writer left behind.
* :func:`shred` / :func:`shred_tree` - overwrite a file's bytes with zeros (fsync) before
  unlinking it, for files that held erased personal data (best effort: a journaling or
  copy-on-write file system, or an SSD, may keep older blocks; use disk encryption).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from optin.errors import DiskFullError

__all__ = [
    "atomic_binary",
    "atomic_text",
    "atomic_write_bytes",
    "atomic_write_json",
    "create_secret_file",
    "file_lock",
    "private_dir",
    "remove_stale_temps",
    "shred",
    "shred_tree",
    "stale_temps",
]


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700 (existing ones are left
    as they are); return ``path``."""
    missing: list[Path] = []
    p = Path(path)
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)
    return Path(path)


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_in(path: Path) -> tuple[int, Path]:
    """A new temp file next to ``path``: ``.<name>.<pid>.<random>.tmp`` (the pid lets
    :func:`remove_stale_temps` tell a dead writer's leftover from a live writer's file)."""
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    return fd, Path(tmp)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block, waiting for any other
    holder (another process, or another thread of this one: each call opens its own
    descriptor). ``path`` is created (0600) if missing and left in place: removing a lock
    file while a waiter has it open would let two holders in. POSIX ``flock``; on Windows
    ``msvcrt.locking`` on its first byte."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":  # pragma: no cover - not run on the project's machines
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after ~10 s: keep waiting
                    continue
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def atomic_binary(
    path: Path, *, mode: int | None = None, mkdir: bool = True
) -> Iterator[IO[bytes]]:
    """Stream bytes to ``path`` atomically (temp file in the same directory, fsync,
    rename); ``mode`` is the final file's mode (default: as ``open`` would create it,
    ``0666`` less the umask). The temp file is removed on error."""
    path = Path(path)
    if mkdir:
        private_dir(path.parent)
    fd, tmp = _temp_in(path)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        final = (0o666 & ~_umask()) if mode is None else mode
        if final != 0o600:  # mkstemp creates 0600
            os.chmod(tmp, final)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and DiskFullError.matches(e):
            raise DiskFullError(f"writing {path.name}", path=str(path)) from e
        raise


@contextlib.contextmanager
def atomic_text(
    path: Path, *, mode: int | None = None, encoding: str = "utf-8", mkdir: bool = True
) -> Iterator[IO[str]]:
    """Stream text to ``path`` atomically (``\n`` line ends), as :func:`atomic_binary`."""
    with atomic_binary(path, mode=mode, mkdir=mkdir) as raw:
        f = io.TextIOWrapper(raw, encoding=encoding, newline="\n", write_through=False)
        try:
            yield f
            f.flush()
        finally:
            f.detach()


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, whole."""
    with atomic_binary(path, mode=mode) as f:
        f.write(data)


def atomic_write_json(path: Path, obj: Any, *, mode: int | None = None) -> None:
    """Write ``obj`` as indented, key-sorted JSON (plus a newline) atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def create_secret_file(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` with mode 0600, only if it does not exist yet.

    The content is written and fsynced under a temporary name first and then linked to
    ``path`` (which fails when ``path`` exists), so no reader ever sees a partial key
    and a concurrent creator's key is never overwritten. Missing parent directories
    are created 0700. Returns True when this call created the file.
    """
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = _temp_in(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive create instead
            return _create_exclusive(path, data)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _create_exclusive(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True


#: A legacy temp file (no pid in its name) older than this is a leftover.
_LEGACY_STALE_S = 600.0


def _temp_pattern(target: Path) -> re.Pattern[str]:
    """Names of optin's temp files for ``target``: ``.<name>.<pid>.<random>.tmp`` (and
    the legacy ``.<name>.<random>.tmp``, where the pid group is empty)."""
    return re.compile(rf"\.{re.escape(target.name)}\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(target: Path, *, now: float | None = None) -> int:
    """Remove leftover temp files of ``target`` whose writer is gone (its pid is not
    running; a legacy name without pid: older than 10 minutes). Only names matching
    optin's own pattern are touched; returns how many were removed."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    pattern = _temp_pattern(target)
    when = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return 0
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = m.group(1)
        try:
            if pid is None:
                stale = when - entry.stat().st_mtime > _LEGACY_STALE_S
            else:
                stale = int(pid) != os.getpid() and not _alive(int(pid))
            if stale:
                os.unlink(entry.path)
                removed += 1
        except (OSError, ValueError, OverflowError):
            continue  # vanished meanwhile, or not ours to remove
    return removed


_SHRED_BLOCK = 1 << 20


def shred(path: Path) -> int:
    """Overwrite ``path`` with zeros, fsync, then unlink it; returns the bytes overwritten
    (0 when it did not exist). Symlinks are unlinked, never followed."""
    p = Path(path)
    try:
        if p.is_symlink():
            p.unlink()
            return 0
        fd = os.open(p, os.O_WRONLY)
    except FileNotFoundError:
        return 0
    size = 0
    try:
        size = os.fstat(fd).st_size
        zeros = bytes(_SHRED_BLOCK)
        left = size
        while left > 0:
            left -= os.write(fd, zeros[: min(left, _SHRED_BLOCK)])
        os.fsync(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        p.unlink()
    return size


def shred_tree(path: Path) -> int:
    """:func:`shred` every file under ``path`` (or ``path`` itself), then remove the
    emptied directories; returns how many files were shredded."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return 0
    if p.is_file() or p.is_symlink():
        shred(p)
        return 1
    n = 0
    for root, dirs, files in os.walk(p, topdown=False):
        for name in files:
            shred(Path(root) / name)
            n += 1
        for name in dirs:
            d = Path(root) / name
            if d.is_symlink():
                d.unlink()
            else:
                with contextlib.suppress(OSError):
                    d.rmdir()
    with contextlib.suppress(OSError):
        p.rmdir()
    return n


_ANY_TEMP = re.compile(r"\..+\.(\d+)\.[a-z0-9_]{8}\.tmp")


def stale_temps(root: Path) -> list[Path]:
    """Every temp file of optin's atomic writer under ``root`` whose writer (by pid) is
    no longer running, sorted."""
    out: list[Path] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            m = _ANY_TEMP.fullmatch(name)
            if m is not None and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
                out.append(Path(dirpath) / name)
    return sorted(out)
