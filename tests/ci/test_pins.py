"""`shipyard ci pins list|update` against real bare git repositories over file://, and the pin checks of `ci check`.

Each fake action repository holds several majors, lightweight and annotated tags, a moving major tag and a
pre-release; `update` must pin commits (never tag objects), refuse a missing tag in one line and write nothing.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from shipyard._cli import main
from shipyard._errors import ConfigError
from shipyard.ci import CI_WORKFLOW, check, generate, load_config
from shipyard.ci._pins import DEFAULTS
from shipyard.ci._pins_update import update_pins
from shipyard.ci._tags import newest_release

from .conftest import MakeProject

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_SYSTEM": "/dev/null",
    "PATH": "/usr/bin:/bin",
}


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _action_repo(base: Path, action: str, tags: list[tuple[str, bool]]) -> dict[str, str]:
    """A bare repo at ``base/<action>`` with one commit per tag; returns tag -> commit SHA."""
    work = base / "work" / action
    work.mkdir(parents=True)
    _git("init", "-q", "-b", "main", cwd=work)
    commits = {}
    for tag, annotated in tags:
        (work / "action.yml").write_text(f"name: {action}\nruns: {{using: node24, main: {tag}.js}}\n")
        _git("add", "action.yml", cwd=work)
        _git("commit", "-q", "-m", tag, cwd=work)
        if annotated:
            _git("tag", "-a", tag, "-m", f"release {tag}", cwd=work)
        else:
            _git("tag", tag, cwd=work)
        commits[tag] = _git("rev-parse", "HEAD", cwd=work)
    # A moving major tag on the newest commit, as actions publish them (lightweight).
    newest = [tag for tag, _ in tags if "-" not in tag][-1]
    _git("tag", newest.split(".")[0], commits[newest], cwd=work)
    bare = base / action
    bare.parent.mkdir(parents=True, exist_ok=True)
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=base)
    return commits


@pytest.fixture
def actions_remote(tmp_path: Path) -> tuple[str, dict[str, dict[str, str]]]:
    base = tmp_path / "remote"
    base.mkdir()
    repos = {
        "actions/checkout": _action_repo(base, "actions/checkout", [("v6.0.0", True), ("v7.0.1", True)]),
        "astral-sh/setup-uv": _action_repo(
            base, "astral-sh/setup-uv", [("v9.0.0", False), ("v10.0.1", False), ("v11.0.0-beta.1", False)]
        ),
        "actions/upload-artifact": _action_repo(base, "actions/upload-artifact", [("v7.0.0", True), ("v8.1.0", True)]),
        "actions/download-artifact": _action_repo(base, "actions/download-artifact", [("v8.0.1", False)]),
        "aws-actions/configure-aws-credentials": _action_repo(
            base, "aws-actions/configure-aws-credentials", [("v6.2.3", False), ("v7.0.0", True)]
        ),
        "someone/extra-action": _action_repo(base, "someone/extra-action", [("v1.2.0", False), ("v2.0.0", True)]),
    }
    return f"file://{base}", repos


def _project(make_project: MakeProject, base: str) -> Path:
    return make_project(config=f'[tool.shipyard.ci]\nactions-git-base = "{base}"\n')


def _uses(root: Path) -> dict[str, str]:
    found = {}
    for line in (root / CI_WORKFLOW).read_text().splitlines():
        if "uses:" in line:
            ref = line.split("uses:", 1)[1].strip()
            action, _, rest = ref.partition("@")
            found[action] = rest
    return found


def test_update_one_action_to_a_given_annotated_tag_pins_the_commit_and_says_so(
    make_project: MakeProject, actions_remote: tuple[str, dict[str, dict[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, repos = actions_remote
    root = _project(make_project, base)
    assert main(["ci", "generate", "--root", str(root)]) == 0
    capsys.readouterr()
    assert main(["ci", "pins", "update", "actions/checkout", "--to", "v6.0.0", "--root", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    commit = repos["actions/checkout"]["v6.0.0"]
    assert out[0].startswith(f"actions/checkout: v7.0.1 -> v6.0.0 (3d3c42e5aac5 -> {commit}); v6.0.0 is an annotated")
    assert out[0].endswith("pinned the commit it points to")
    assert out[1:] == [f"wrote {CI_WORKFLOW}"]
    table = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["shipyard"]["ci"]["pins"]
    assert table == {"actions/checkout": {"version": "v6.0.0", "sha": commit}}
    assert _uses(root)["actions/checkout"] == f"{commit} # v6.0.0"
    assert check(root) == []


def test_update_everything_takes_the_newest_release_of_each(
    make_project: MakeProject, actions_remote: tuple[str, dict[str, dict[str, str]]]
) -> None:
    base, repos = actions_remote
    root = _project(make_project, base)
    updates = update_pins(root)
    generate(root)
    versions = {u.new.action: u.new.version for u in updates}
    assert versions == {
        "actions/checkout": "v7.0.1",
        "astral-sh/setup-uv": "v10.0.1",  # not the v11 pre-release, not the moving v10 tag
        "actions/upload-artifact": "v8.1.0",
        "actions/download-artifact": "v8.0.1",
        "aws-actions/configure-aws-credentials": "v7.0.0",
    }
    for update in updates:
        assert update.new.sha == repos[update.new.action][update.new.version]
    uses = _uses(root)
    assert uses["actions/checkout"] == f"{repos['actions/checkout']['v7.0.1']} # v7.0.1"
    assert uses["astral-sh/setup-uv"] == f"{repos['astral-sh/setup-uv']['v10.0.1']} # v10.0.1"
    assert check(root) == []
    # A second run changes nothing but still reports.
    assert [str(u).split(":")[1].strip().startswith("already at") for u in update_pins(root)] == [True] * 5


def test_a_missing_tag_is_one_line_and_writes_nothing(
    make_project: MakeProject, actions_remote: tuple[str, dict[str, dict[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = actions_remote
    root = _project(make_project, base)
    before = (root / "pyproject.toml").read_text()
    code = main(["ci", "pins", "update", "actions/checkout", "--to", "v99.0.0", "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"shipyard: error: actions/checkout: no tag 'v99.0.0' in {base}/actions/checkout; the newest release is "
        "v7.0.1; pass --to an existing tag\n"
    )
    assert (root / "pyproject.toml").read_text() == before


def test_extra_actions_are_pinned_the_same_way_and_listed(
    make_project: MakeProject, actions_remote: tuple[str, dict[str, dict[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, repos = actions_remote
    root = _project(make_project, base)
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + "# keep this comment\n")
    assert main(["ci", "pins", "update", "someone/extra-action", "--root", str(root)]) == 0
    assert main(["ci", "pins", "update", "astral-sh/setup-uv", "--to", "v9.0.0", "--root", str(root)]) == 0
    text = (root / "pyproject.toml").read_text()
    assert "# keep this comment\n" in text  # only the pin lines were touched
    capsys.readouterr()
    assert main(["ci", "pins", "list", "--root", str(root)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(rows) == {*DEFAULTS, "someone/extra-action"}
    extra = rows["someone/extra-action"].split()
    assert extra[1:3] == ["v2.0.0", repos["someone/extra-action"]["v2.0.0"]]
    assert rows["someone/extra-action"].endswith("[tool.shipyard.ci.pins] (extra)")
    assert rows["astral-sh/setup-uv"].endswith("[tool.shipyard.ci.pins] (built-in: v10.0.1)")
    assert rows["actions/checkout"].endswith("built-in")
    assert load_config(root).pins["someone/extra-action"].version == "v2.0.0"


def test_check_catches_a_hand_edited_sha_a_tag_ref_and_a_wrong_comment(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    path = root / CI_WORKFLOW
    text = path.read_text()
    checkout = DEFAULTS["actions/checkout"]
    setup_uv = DEFAULTS["astral-sh/setup-uv"]
    edited = text.replace(f"{checkout.uses} # v7.0.1", f"actions/checkout@{'a' * 40} # v7.0.1", 1)
    edited = edited.replace(f"{setup_uv.uses} # v10.0.1", "astral-sh/setup-uv@v10", 1)
    path.write_text(edited)
    messages = [str(d) for d in check(root)]
    assert any(f"actions/checkout@{'a' * 40} is not the commit Shipyard's built-in pins name" in m for m in messages)
    assert any("astral-sh/setup-uv@v10 is not pinned to a full 40-hex commit SHA" in m for m in messages)
    assert any("edited by hand" in m for m in messages)

    path.write_text(text.replace(f"{checkout.uses} # v7.0.1", f"{checkout.uses} # v4.2.2", 1))
    messages = [str(d) for d in check(root)]
    assert any(
        m.endswith(
            "is commented # v4.2.2 but Shipyard's built-in pins call that commit v7.0.1; run `shipyard ci generate`"
        )
        for m in messages
    ), messages


def test_check_names_the_override_table_when_the_workflow_lags_it(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    sha = "b" * 40
    (root / "pyproject.toml").write_text(
        (root / "pyproject.toml").read_text()
        + f'\n[tool.shipyard.ci.pins]\n"actions/checkout" = {{ version = "v7.1.0", sha = "{sha}" }}\n'
    )
    messages = [str(d) for d in check(root)]
    assert any(f"is not the commit [tool.shipyard.ci.pins] name ({sha}, v7.1.0)" in m for m in messages), messages
    generate(root)
    assert check(root) == []
    workflow = yaml.safe_load((root / CI_WORKFLOW).read_text())
    assert workflow["jobs"]["lint"]["steps"][0]["uses"] == f"actions/checkout@{sha}"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('"actions/checkout" = { version = "v7", sha = "v7" }', "sha 'v7' is not a full 40-hex commit SHA"),
        ('"actions/checkout" = "3d3c42e5aac5ba805825da76410c181273ba90b1"', "must be { version ="),
        (f'"not an action" = {{ version = "v1", sha = "{"c" * 40}" }}', "is not an action name"),
        (f'"a/b" = {{ version = "", sha = "{"c" * 40}" }}', "version must be the release tag"),
    ],
)
def test_bad_override_entries_are_one_line_errors(make_project: MakeProject, entry: str, message: str) -> None:
    root = make_project(config=f"[tool.shipyard.ci.pins]\n{entry}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(root)
    assert "tool.shipyard.ci.pins." in str(info.value)


def test_newest_release_ignores_pre_releases_and_prefers_the_full_tag() -> None:
    assert newest_release(["v1", "v1.2.0", "v1.10.0", "v2.0.0-rc1", "latest"]) == "v1.10.0"
    assert newest_release(["v3"]) == "v3"
    assert newest_release(["v11", "v10.0.1"]) == "v10.0.1"  # a moving major tag never beats a release
    assert newest_release(["nightly"]) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "v1.0.0"], "--to needs an ACTION"),
        (["not-an-action"], "'not-an-action' is not an action name; use owner/repo"),
        (["a/../b"], "'a/../b' is not an action name"),
    ],
)
def test_update_refuses_bad_arguments_in_one_line(
    make_project: MakeProject, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    root = make_project()
    assert main(["ci", "pins", "update", *argv, "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_an_unreachable_repository_says_why_in_one_line_and_writes_nothing(
    make_project: MakeProject, actions_remote: tuple[str, dict[str, dict[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = actions_remote
    root = _project(make_project, base)
    before = (root / "pyproject.toml").read_bytes()
    assert main(["ci", "pins", "update", "nobody/nothing", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    # git's own reason (its first "fatal:" line), not the tail of its advice ("and the repository exists.")
    assert err.startswith(f"shipyard: error: nobody/nothing: cannot list the tags of {base}/nobody/nothing (")
    assert "does not appear to be a git repository" in err
    assert "actions-git-base" in err
    assert (root / "pyproject.toml").read_bytes() == before
    assert not (root / CI_WORKFLOW).exists()


def test_update_keeps_comments_and_neighbouring_tables_byte_for_byte(
    make_project: MakeProject, actions_remote: tuple[str, dict[str, dict[str, str]]]
) -> None:
    base, commits = actions_remote
    old = commits["someone/extra-action"]["v1.2.0"]
    root = make_project(
        config=(
            "# CI settings\n"
            f'[tool.shipyard.ci]\nactions-git-base = "{base}"   # local mirror\n\n'
            "# our own pins\n[tool.shipyard.ci.pins]\n# a comment inside the table\n"
            f'"someone/extra-action" = {{ version = "v1.2.0", sha = "{old}" }}  # why we pin it\n\n'
            "# settings of another tool\n[tool.other]\nx = 1  # trailing\n"
        )
    )
    before = (root / "pyproject.toml").read_text()
    update_pins(root, "someone/extra-action")
    update_pins(root, "actions/checkout", "v6.0.0")
    after = (root / "pyproject.toml").read_text()
    new = commits["someone/extra-action"]["v2.0.0"]
    checkout = commits["actions/checkout"]["v6.0.0"]
    assert after == before.replace(
        f'"someone/extra-action" = {{ version = "v1.2.0", sha = "{old}" }}  # why we pin it\n',
        f'"someone/extra-action" = {{ version = "v2.0.0", sha = "{new}" }}  # why we pin it\n'
        f'"actions/checkout" = {{ version = "v6.0.0", sha = "{checkout}" }}\n',
    )
    assert update_pins(root, "someone/extra-action")[0].old == update_pins(root, "someone/extra-action")[0].new
    assert (root / "pyproject.toml").read_text() == after


def test_update_next_to_a_hand_written_workflow_refuses_before_writing_the_pins(
    make_project: MakeProject, actions_remote: tuple[str, dict[str, dict[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = actions_remote
    root = _project(make_project, base)
    hand = root / CI_WORKFLOW
    hand.parent.mkdir(parents=True)
    hand.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo mine\n")
    before = (root / "pyproject.toml").read_bytes(), hand.read_bytes()
    assert main(["ci", "pins", "update", "actions/checkout", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{CI_WORKFLOW} was not written by `shipyard ci generate`" in err
    assert "no pin was written" in err
    assert ((root / "pyproject.toml").read_bytes(), hand.read_bytes()) == before


def test_check_flags_an_unpinned_action_in_a_hand_written_workflow_by_file_and_line(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    other = root / ".github/workflows/release.yaml"
    sha = "c" * 40
    other.write_text(
        "on: push\njobs:\n  r:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - uses: actions/checkout@{sha} # v1.0.0\n"  # pinned: its own business, not Shipyard's table
        "      - uses: ./local-action\n"
        '      - uses: "someone/thing@main"\n'
    )
    messages = [str(d) for d in check(root)]
    assert messages == [
        ".github/workflows/release.yaml:8: someone/thing@main is not pinned to a full 40-hex commit SHA (a tag can be "
        "moved); this file is yours, so replace the ref with the commit (`shipyard ci pins update someone/thing` "
        "resolves it and `shipyard ci pins list` shows it)"
    ]
