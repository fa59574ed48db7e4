"""lab.deploy.docker.files_tar and base_image_tar, read back with tarfile."""

from __future__ import annotations

import io
import tarfile

from lab.deploy import docker
from lab.deploy.docker import files_tar
from lab.scenario.model import FileSpec

FILES = (
    FileSpec("/etc/taos/taos.cfg", "fqdn taosnode1\nserverPort 6030\n", 0o600),
    FileSpec("/etc/taos/extra/note.txt", "café\n"),  # default mode 0644, UTF-8 content
    FileSpec("/opt/start.sh", "#!/bin/sh\nexec taosd\n", 0o755),
    FileSpec("/hello", ""),
)


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.getmembers()


def contents(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def test_files_tar_holds_each_parent_directory_once_before_its_files():
    listing = [(m.name, m.type, m.mode) for m in members(files_tar(FILES))]
    assert listing == [
        ("etc", tarfile.DIRTYPE, 0o755),
        ("etc/taos", tarfile.DIRTYPE, 0o755),
        ("etc/taos/taos.cfg", tarfile.REGTYPE, 0o600),
        ("etc/taos/extra", tarfile.DIRTYPE, 0o755),
        ("etc/taos/extra/note.txt", tarfile.REGTYPE, 0o644),
        ("opt", tarfile.DIRTYPE, 0o755),
        ("opt/start.sh", tarfile.REGTYPE, 0o755),
        ("hello", tarfile.REGTYPE, 0o644),
    ]


def test_files_tar_holds_each_files_content_as_utf8():
    assert contents(files_tar(FILES)) == {
        "etc/taos/taos.cfg": b"fqdn taosnode1\nserverPort 6030\n",
        "etc/taos/extra/note.txt": "café\n".encode(),
        "opt/start.sh": b"#!/bin/sh\nexec taosd\n",
        "hello": b"",
    }
    sizes = {m.name: m.size for m in members(files_tar(FILES)) if m.isfile()}
    assert sizes["etc/taos/extra/note.txt"] == len("café\n".encode()) == 6


def test_files_tar_paths_are_relative_for_docker_cp_to_slash():
    names = [m.name for m in members(files_tar(FILES))]
    assert not any(name.startswith("/") or ".." in name.split("/") for name in names)


def test_files_tar_of_no_files_is_an_empty_archive():
    assert members(files_tar(())) == []


def test_base_image_tar_links_the_merged_usr_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(docker, "CACHE_DIR", tmp_path / "cache")
    data = docker.base_image_tar()
    entries = {m.name: m for m in members(data)}
    assert {name: m.linkname for name, m in entries.items() if m.issym()} == {
        name: f"usr/{name}" for name in ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
    }
    directories = {name: m.mode for name, m in entries.items() if m.isdir()}
    assert directories["tmp"] == directories["var/tmp"] == 0o1777
    assert directories["root"] == 0o700 and directories["proc"] == directories["sys"] == 0o555
    assert not [m for m in entries.values() if m.isfile()]
    assert (tmp_path / "cache" / "base-rootfs.tar").read_bytes() == data
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["base-rootfs.tar"]  # no temporary file left
    assert docker.base_image_tar() == data  # read from the cache
