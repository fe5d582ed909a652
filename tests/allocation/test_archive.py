"""Unpacking a user's zip: paths that escape, links, bombs and junk are refused with the entry named;
a folder zipped with or without its top folder unpacks the same."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from allocation.jobs.archive import ArchiveError, pack_folder, safe_extract


def _zip(entries: dict[str, bytes], *, mode: int | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def test_a_packed_folder_unpacks_to_the_same_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "holdout").mkdir(parents=True)
    (src / "meta.json").write_text("{}")
    (src / "holdout" / "returns.csv").write_text("a,b\n")
    out = tmp_path / "out"
    out.mkdir()
    safe_extract(pack_folder(src), out)
    assert (out / "meta.json").read_text() == "{}" and (out / "holdout" / "returns.csv").read_text() == "a,b\n"


def test_a_zip_of_the_folder_itself_drops_its_top_folder(tmp_path: Path) -> None:
    safe_extract(_zip({"world/meta.json": b"{}", "world/units.csv": b"x\n"}), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json", "units.csv"]


@pytest.mark.parametrize("name", ["../evil.csv", "/etc/evil.csv", "a/../../evil.csv", "C:/evil.csv", "..\\evil.csv"])
def test_paths_escaping_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ArchiveError, match="escapes the data folder"):
        safe_extract(_zip({"meta.json": b"{}", name: b"x"}), out)
    assert not (tmp_path / "evil.csv").exists() and list(out.iterdir()) == []


def test_symlinks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no links"):
        safe_extract(_zip({"units.csv": b"/etc/passwd"}, mode=stat.S_IFLNK | 0o777), tmp_path)


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path: Path) -> None:
    bomb = _zip({"units.csv": b"\0" * (50 * 2**20)})
    assert len(bomb) < 2**20  # compresses ~1000:1
    with pytest.raises(ArchiveError, match="unpack to 50 MB; the limit is 10 MB"):
        safe_extract(bomb, tmp_path, max_unpacked_bytes=10 * 2**20)
    assert list(tmp_path.iterdir()) == []


def test_a_bomb_lying_about_its_size_is_stopped_while_unpacking(tmp_path: Path) -> None:
    data = bytearray(_zip({"units.csv": b"\0" * (20 * 2**20)}))
    # Rewrite the declared uncompressed size (central directory and local header) to 1 KB.
    real = (20 * 2**20).to_bytes(4, "little")
    data = data.replace(real, (1024).to_bytes(4, "little"))
    with pytest.raises(ArchiveError):
        safe_extract(bytes(data), tmp_path, max_unpacked_bytes=10 * 2**20)


@pytest.mark.parametrize("payload", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_unreadable_uploads_are_refused(tmp_path: Path, payload: bytes) -> None:
    with pytest.raises(ArchiveError, match="not a readable zip"):
        safe_extract(payload, tmp_path)


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="entries"):
        safe_extract(_zip({f"f{i}.csv": b"" for i in range(300)}), tmp_path)
