"""``shipyard ci plan`` / ``ci run`` read the noxfile's listing from the cache ``invoke check`` keeps too: nox is
started once, and again whenever something that decides the listing changes (the noxfile, a module it imports,
pyproject.toml, uv.lock). A failed listing is never cached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shipyard._errors import CommandFailed, ConfigError
from shipyard.ci._plan import plan

NOXFILE = """
import pathlib

import nox

# Beside the project: how many times nox loaded this noxfile.
with (pathlib.Path(__file__).resolve().parent.parent / "loads.log").open("a") as log:
    log.write("load\\n")

import helpers


@nox.session(venv_backend="none")
def lint(session):
    pass


for name in helpers.EXTRA:
    nox.session(venv_backend="none", name=name)(lambda session: None)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.11"\n')
    (root / "noxfile.py").write_text(NOXFILE)
    (root / "helpers.py").write_text("EXTRA = []\n")
    time.sleep(0.1)  # written before the first listing begins (one reading a file changed since is not stored)
    return root


def _loads(root: Path) -> int:
    log = root.parent / "loads.log"
    return len(log.read_text().split()) if log.is_file() else 0


def _jobs(root: Path) -> list[str]:
    return [job.id for job in plan(root) if job.id != "ci-passed"]


def test_the_listing_is_cached_until_what_decides_it_changes(project: Path) -> None:
    assert _jobs(project) == ["lint"]
    assert _loads(project) == 1
    assert _jobs(project) == ["lint"]
    assert _loads(project) == 1  # the second plan started no nox

    # A module the noxfile imports defines a session: the listing is taken again.
    (project / "helpers.py").write_text("EXTRA = ['docs']\n")
    assert _jobs(project) == ["lint", "docs"]
    assert _loads(project) == 2

    for name, text in (
        ("pyproject.toml", '[project]\nname = "app"\nversion = "1"\nrequires-python = ">=3.11"\n'),
        ("uv.lock", "version = 1\n"),
        ("noxfile.py", NOXFILE.replace("def lint", "def lint_all")),
    ):
        loads = _loads(project)
        (project / name).write_text(text)
        plan(project)
        assert _loads(project) == loads + 1, name
    assert _jobs(project) == ["lint_all", "docs"]


def test_a_failed_listing_is_not_cached(project: Path) -> None:
    (project / "helpers.py").write_text("EXTRA = 1 / 0\n")
    with pytest.raises((CommandFailed, ConfigError)):
        plan(project)
    with pytest.raises((CommandFailed, ConfigError)):
        plan(project)
    assert _loads(project) == 2  # listed again, failing again: no failure was stored
    (project / "helpers.py").write_text("EXTRA = []\n")
    assert _jobs(project) == ["lint"]


def test_a_damaged_listing_cache_is_listed_again(project: Path) -> None:
    import json

    assert _jobs(project) == ["lint"]
    (cache,) = (project / ".shipyard" / "cache").glob("ci-listing-*.json")
    stored = json.loads(cache.read_text())
    for damaged in ("{not json", json.dumps({**stored, "value": 3}), json.dumps([stored])):
        loads = _loads(project)
        cache.write_text(damaged)
        assert _jobs(project) == ["lint"]
        assert _loads(project) == loads + 1


def test_a_same_size_edit_that_keeps_the_mtime_is_listed_again(project: Path) -> None:
    import os

    helpers = project / "helpers.py"
    helpers.write_text("EXTRA = ['aa']\n")
    assert _jobs(project) == ["lint", "aa"]
    before = helpers.stat()
    helpers.write_text("EXTRA = ['bb']\n")  # same size
    os.utime(helpers, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime (cp -p, tar, a fast edit)
    assert _jobs(project) == ["lint", "bb"]


def test_a_module_imported_from_another_directory_is_part_of_the_stamp(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # bytecode written, as on most machines
    # As this repository's noxfile imports shipyard.nox from src/: not beside the noxfile, not a package there.
    (project / "tools").mkdir()
    (project / "tools" / "more.py").write_text("EXTRA = []\n")
    (project / "noxfile.py").write_text(
        NOXFILE.replace("import helpers", "import sys\nsys.path.insert(0, 'tools')\nimport more as helpers")
    )
    assert _jobs(project) == ["lint"]
    # Listed again (pyproject changed): this time Python imports the module from its bytecode, never opening it.
    (project / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1"\nrequires-python = ">=3.11"\n')
    assert _jobs(project) == ["lint"]
    (project / "tools" / "more.py").write_text("EXTRA = ['docs']\n")
    assert _jobs(project) == ["lint", "docs"]


def test_a_file_or_a_variable_the_noxfile_reads_is_part_of_the_stamp(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "sessions.txt").write_text("")
    (project / "noxfile.py").write_text(
        NOXFILE
        + "\nimport os\n"
        + "extra = os.environ.get('APP_SESSIONS', '').split() + os.environb.get(b'APP_MORE', b'').decode().split()\n"
        + "for name in pathlib.Path('sessions.txt').read_text().split() + extra:\n"
        + "    nox.session(venv_backend='none', name=name)(lambda session: None)\n"
    )
    assert _jobs(project) == ["lint"]
    (project / "sessions.txt").write_text("docs\n")
    assert _jobs(project) == ["lint", "docs"]
    monkeypatch.setenv("APP_SESSIONS", "bench")
    assert _jobs(project) == ["lint", "docs", "bench"]
    monkeypatch.delenv("APP_SESSIONS")
    assert _jobs(project) == ["lint", "docs"]
    monkeypatch.setenv("APP_MORE", "typos")  # read as bytes (os.environb)
    assert _jobs(project) == ["lint", "docs", "typos"]
    loads = _loads(project)
    monkeypatch.setenv("SOME_UNRELATED_VARIABLE", "1")
    assert _jobs(project) == ["lint", "docs", "typos"]
    assert _loads(project) == loads  # a variable the noxfile does not read leaves the listing cached


def test_a_cache_that_cannot_be_written_still_lists(project: Path) -> None:
    cache = project / ".shipyard" / "cache"
    cache.mkdir(parents=True)
    assert _jobs(project) == ["lint"]
    for entry in cache.iterdir():
        if entry.name.startswith("ci-listing-"):
            entry.unlink()
            entry.mkdir()  # a directory where the cache file was
    (project / "helpers.py").write_text("EXTRA = ['docs']\n")
    assert _jobs(project) == ["lint", "docs"]
    cache.chmod(0o500)
    try:
        (project / "helpers.py").write_text("EXTRA = ['bench']\n")
        assert _jobs(project) == ["lint", "bench"]
    finally:
        cache.chmod(0o700)


def test_a_file_edited_while_nox_lists_is_not_trusted(project: Path) -> None:
    # The edit lands after nox read the module and before the listing is stored (as an editor saving mid-listing):
    # what was stored must not pass for the new bytes.
    marker = project.parent / "edit-once"
    marker.write_text("")
    edit = (
        f"\nif pathlib.Path({str(marker)!r}).exists():\n"
        f"    pathlib.Path({str(marker)!r}).unlink()\n"
        "    pathlib.Path(__file__).with_name('sessions.txt').write_text('docs')\n"
    )
    (project / "sessions.txt").write_text("")
    sessions = (
        "\nfor name in pathlib.Path('sessions.txt').read_text().split():\n"
        "    nox.session(venv_backend='none', name=name)(lambda session: None)\n"
    )
    (project / "noxfile.py").write_text(NOXFILE + sessions + edit)
    assert _jobs(project) == ["lint"]  # what nox read then
    assert _jobs(project) == ["lint", "docs"]


def test_a_session_per_directory_found_is_listed_again_when_a_directory_is_added(project: Path) -> None:
    (project / "noxfile.py").write_text(
        NOXFILE
        + """
for found in sorted(pathlib.Path(__file__).resolve().parent.joinpath("packages").iterdir()):
    nox.session(venv_backend="none", name=f"test-{found.name}")(lambda session: None)
"""
    )
    (project / "packages" / "alpha").mkdir(parents=True)
    time.sleep(0.1)
    assert _jobs(project) == ["lint", "test-alpha"]
    assert _jobs(project) == ["lint", "test-alpha"]
    loads = _loads(project)
    (project / "packages" / "beta").mkdir()  # no file the noxfile read changed: only the directory it listed
    assert _jobs(project) == ["lint", "test-alpha", "test-beta"]
    assert _loads(project) == loads + 1
