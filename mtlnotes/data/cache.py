"""The data cache: where dataset files live, how they are downloaded and how they are verified.

Files are looked up in ``<cache>/<dataset>/<filename>`` where ``<cache>`` is ``$MTLNOTES_DATA`` (a relative
value is resolved against the checkout root, the same from every working directory), else the workspace's
``shared/data`` beside the checkout when it exists, else ``~/.cache/mtlnotes`` (``$XDG_CACHE_HOME/mtlnotes``
when set); see :mod:`mtlnotes.datapath`. A file that is present is
verified against its published checksum before use; a missing file is downloaded from its official
URL (when ``download=True``) and verified. Nothing ever falls back to other data: a missing or corrupt
file raises an error that names the file, the expected checksum and where to get it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mtlnotes.datapath import data_dir, describe_data_dir
from mtlnotes.training import progress

__all__ = [
    "DataError",
    "DataMissingError",
    "ChecksumError",
    "RemoteFile",
    "cache_dir",
    "file_checksum",
    "verify_file",
    "fetch",
]


class DataError(RuntimeError):
    """Base class for data-file problems."""


class DataMissingError(DataError, FileNotFoundError):
    """A dataset file is not in the cache and could not be downloaded."""


class ChecksumError(DataError):
    """A dataset file is present but its checksum does not match the published one."""


@dataclass(frozen=True)
class RemoteFile:
    """One official dataset file: where it lives in the cache, where it comes from, how to verify it.

    ``dataset`` is the cache subfolder (e.g. ``"mnist"``); ``urls`` are tried in order (the official one
    first). At least one of ``md5`` / ``sha256`` must be given.
    """

    dataset: str
    filename: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    how_to_get: str = ""
    citation: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not (self.md5 or self.sha256):
            raise ValueError(f"{self.dataset}/{self.filename}: give an md5 or a sha256 checksum")

    @property
    def expected(self) -> str:
        """Human-readable expected checksum(s)."""
        parts = []
        if self.sha256:
            parts.append(f"sha256 {self.sha256}")
        if self.md5:
            parts.append(f"md5 {self.md5}")
        return ", ".join(parts)

    def instructions(self, root: Path) -> str:
        where = "\n    ".join(self.urls) if self.urls else "(no public URL)"
        extra = f"\n  {self.how_to_get}" if self.how_to_get else ""
        return (
            f"  expected: {root / self.dataset / self.filename} ({self.expected}"
            + (f", {self.size} bytes" if self.size else "")
            + f")\n  official source:\n    {where}{extra}\n"
            f"  Put the file there (or point MTLNOTES_DATA at a folder holding {self.dataset}/{self.filename})."
        )


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """The cache root, absolute: ``root`` if given, else ``$MTLNOTES_DATA`` (a relative value is resolved against
    the checkout root), else ``<checkout>/../shared/data`` when it exists, else the user's cache dir + ``mtlnotes``
    (:func:`mtlnotes.datapath.data_dir`)."""
    return data_dir(root)


def file_checksum(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file (``algorithm`` as in :mod:`hashlib`)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


_VERIFIED: dict[tuple[str, int, int], bool] = {}


def verify_file(path: str | os.PathLike, remote: RemoteFile) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has ``remote``'s checksum(s).

    A verified (path, size, mtime) is remembered for the life of the process, so repeated loads are cheap.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if _VERIFIED.get(key):
        return
    for algorithm in ("sha256", "md5"):
        expected = getattr(remote, algorithm)
        if expected is None:
            continue
        actual = file_checksum(path, algorithm)
        if actual.lower() != expected.lower():
            raise ChecksumError(
                f"{path} is corrupt or not the official file: {algorithm} is {actual}, expected {expected}.\n"
                f"Delete it and obtain it again:\n{remote.instructions(path.parent.parent)}"
            )
    _VERIFIED[key] = True


def _download(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (official https URLs only)
        dest.parent.mkdir(parents=True, exist_ok=True)  # only once the server answered: no empty folders
        total = int(response.headers.get("Content-Length") or 0) or None
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, progress(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    bar.update(len(block))
            shutil.move(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def fetch(remote: RemoteFile, root: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Path of ``remote`` in the cache, downloading it first if needed; always verified.

    Raises :class:`DataMissingError` (file absent, download off or failed) or :class:`ChecksumError`.
    """
    base = cache_dir(root)
    path = base / remote.dataset / remote.filename
    if path.exists():
        verify_file(path, remote)
        return path
    errors = []
    folder_existed = path.parent.exists()
    if download and remote.urls:
        for url in remote.urls:
            try:
                _download(url, path)
            except Exception as exc:  # network errors of every kind: report them all below
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
                continue
            try:
                verify_file(path, remote)
            except ChecksumError as exc:
                path.unlink(missing_ok=True)
                errors.append(f"{url}: downloaded file failed verification ({exc.args[0].splitlines()[0]})")
                continue
            return path
    if not folder_existed and path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()  # a failed download leaves no empty folder behind
    if errors:
        tried = "\n  download attempts:\n    " + "\n    ".join(errors)
    elif not remote.urls:
        tried = "\n  (it has no public download URL: it must be put there by hand)"
    else:
        tried = "\n  (not downloaded: this loader was called with download=False)"
    raise DataMissingError(
        f"dataset file {remote.dataset}/{remote.filename} is not in the cache "
        f"{describe_data_dir(root)}.{tried}\n"
        f"{remote.instructions(base)}"
    )
