"""A new machine passes: the system packages are installed by a ci/ script, the base image's mirror is the machine's."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mirror(apt_etc: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "ci" / "base-image.sh"), "--print-mirror"],
        env={"PATH": "/usr/bin:/bin", "SHIPYARD_APT_ETC": str(apt_etc)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_base_image_mirror_comes_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.internal.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.internal.example/debian/\nSuites: bookworm\n"
    )
    (tmp_path / "sources.list.d" / "nodesource.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node\n"
    )
    result = _mirror(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://mirror.internal.example/debian"


def test_base_image_mirror_comes_from_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [signed-by=/usr/share/keyrings/k.gpg] http://apt.corp.example/debian bookworm main\n"
        "deb http://apt.corp.example/debian-security bookworm-security main\n"
    )
    result = _mirror(tmp_path)
    assert result.stdout.strip() == "http://apt.corp.example/debian"


def test_no_mirror_is_one_line_not_a_guess(tmp_path: Path) -> None:
    result = _mirror(tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["ci/base-image.sh: no Debian mirror in /etc/apt/sources.list{,.d}"]


def test_system_packages_script_is_called_by_bootstrap_and_is_idempotent() -> None:
    assert "system-packages.sh" in (ROOT / "ci" / "bootstrap.sh").read_text()
    script = ROOT / "ci" / "system-packages.sh"
    for command, package in (("/bin/busybox", "busybox-static"), ("htpasswd", "apache2-utils"), ("git", "git")):
        assert f"[{command}]={package}" in script.read_text()
    # With every command present (as after bootstrap), a second run does nothing and says nothing.
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_missing_tool_fails_under_ci_naming_its_debian_package(tmp_path: Path) -> None:
    import os
    import sys

    (tmp_path / "test_needs_tool.py").write_text(
        "from shipyard.testing import require_tool\n\n\n"
        "def test_it():\n    require_tool('shipyard-no-such-tool', 'shipyard-some-package')\n"
    )
    env = {**os.environ, "CI": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout
    assert (
        "shipyard-no-such-tool is missing: install the Debian package shipyard-some-package "
        "(`bash ci/system-packages.sh`)" in result.stdout
    )


def test_uv_run_locked_fails_on_a_stale_lock_and_leaves_it_unchanged(tmp_path: Path) -> None:
    from shipyard.testing import make_project

    project = make_project(tmp_path / "proj", groups={"g": ["iniconfig"]}, sessions={})
    assert project.lock().returncode == 0
    lock = project.root / "uv.lock"
    before = lock.read_bytes()
    project.set_group("g", ["iniconfig", "six"])  # pyproject changed, lock not: stale
    env = {k: v for k, v in project.env().items() if k != "VIRTUAL_ENV"}
    # The README's and .ci/run's form: `uv run --locked ...` fails with uv's one line and rewrites nothing.
    locked = subprocess.run(
        ["uv", "run", "--locked", "python", "-c", "pass"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert locked.returncode != 0
    assert "needs to be updated, but `--locked` was provided" in locked.stderr
    assert lock.read_bytes() == before
    for path in ("README.md", ".ci/run"):
        text = (ROOT / path).read_text()
        commands = [line for line in text.splitlines() if "uv run " in line and not line.lstrip().startswith("#")]
        assert commands, path
        assert all("uv run --locked" in line or "plain `uv run`" in line for line in commands), (path, commands)
