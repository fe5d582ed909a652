"""Datasets travel as zip files: packing a data folder, and unpacking one a user sent — safely.

A zip from a user is refused (``ClosetflowError`` naming the entry) when an entry would land outside
the folder (absolute path, ``..``, a drive letter), is a symlink or device, when there are too many
entries, or when it would unpack to more than the limit (a zip bomb: the declared sizes are checked
first, and the bytes actually written are counted too, since the declared sizes can lie).
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from allocation.domain import ClosetflowError

__all__ = ["ArchiveError", "pack_folder", "safe_extract"]

MAX_ENTRIES = 200
_BLOCK = 1 << 20


class ArchiveError(ClosetflowError):
    """The uploaded zip cannot be accepted as a data folder."""


def pack_folder(folder: Path) -> bytes:
    """The data folder as zip bytes (files only, paths relative to the folder)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
                zf.write(path, path.relative_to(folder).as_posix())
    return buf.getvalue()


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ArchiveError(f"{info.filename}: path escapes the data folder")
    mode = info.external_attr >> 16
    # Zips made on Windows (and by Python's writestr) carry no file type bits: a plain file.
    kind = stat.S_IFMT(mode)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveError(f"{info.filename}: only plain files and folders are accepted (no links or devices)")
    return path


def _strip_common_root(paths: list[PurePosixPath]) -> int:
    """A zip made by zipping the folder itself has every file under one top folder: drop it."""
    files = [p for p in paths if p.parts]
    if not files or any(p.name == "meta.json" and len(p.parts) == 1 for p in files):
        return 0
    tops = {p.parts[0] for p in files}
    return 1 if len(tops) == 1 and all(len(p.parts) > 1 for p in files) else 0


def safe_extract(data: bytes, dest: Path, *, max_unpacked_bytes: int = 2_000 * 2**20) -> None:
    """Unpack zip ``data`` into the existing folder ``dest``, refusing anything unsafe (see module doc)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ArchiveError(f"the upload is not a readable zip file ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"the zip has {len(infos)} entries; a data folder has at most {MAX_ENTRIES}")
        paths = [_member_path(i) for i in infos]
        declared = sum(i.file_size for i in infos)
        if declared > max_unpacked_bytes:
            raise ArchiveError(
                f"the zip would unpack to {declared / 2**20:.0f} MB; the limit is {max_unpacked_bytes / 2**20:.0f} MB"
            )
        skip = _strip_common_root(paths)
        written = 0
        for info, path in zip(infos, paths, strict=True):
            rel = PurePosixPath(*path.parts[skip:]) if len(path.parts) > skip else None
            if rel is None or info.is_dir() or rel.name.startswith(".") or "__MACOSX" in rel.parts:
                continue
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while block := src.read(_BLOCK):
                        written += len(block)
                        if written > max_unpacked_bytes:
                            raise ArchiveError(
                                f"{info.filename}: the zip unpacks to more than {max_unpacked_bytes / 2**20:.0f} MB"
                            )
                        out.write(block)
            except (
                zipfile.BadZipFile,
                zipfile.LargeZipFile,
                NotImplementedError,
                RuntimeError,
                EOFError,
                zlib.error,
            ) as exc:
                raise ArchiveError(f"{info.filename}: cannot be unpacked ({exc})") from None
