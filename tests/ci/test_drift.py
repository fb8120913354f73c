"""`shipyard ci check`: every kind of drift is detected and named; a regenerated file passes."""

from __future__ import annotations

from pathlib import Path

from shipyard.ci import CI_WORKFLOW, DriftKind, check, generate

from .conftest import PLAIN_NOXFILE, MakeProject


def _kinds(root: Path) -> list[DriftKind]:
    return [drift.kind for drift in check(root)]


def _edit(root: Path, old: str, new: str) -> None:
    path = root / CI_WORKFLOW
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_freshly_generated_workflow_has_no_drift(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    assert check(root) == []


def test_missing_workflow_is_named(make_project: MakeProject) -> None:
    drifts = check(make_project())
    assert [d.kind for d in drifts] == [DriftKind.MISSING_FILE]
    assert ".github/workflows/ci.yml does not exist" in str(drifts[0])


def test_a_session_no_job_runs_is_named(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    make_project(PLAIN_NOXFILE + "\n@nox.session\ndef typecheck(session):\n    pass\n")
    drifts = check(root)
    assert [d.kind for d in drifts] == [DriftKind.NOT_RUN]
    assert "no job runs session 'typecheck' from noxfile.py" in str(drifts[0])


def test_a_job_calling_a_session_that_does_not_exist_is_named(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    make_project(PLAIN_NOXFILE.replace("@nox.session\ndef lint", "@nox.session(default=False)\ndef lint"))
    drifts = check(root)
    assert [d.kind for d in drifts] == [DriftKind.UNKNOWN_SESSION]
    assert "job 'lint' runs session 'lint', which noxfile.py does not define as a default session" in str(drifts[0])


def test_a_python_version_mismatch_is_named(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    make_project(PLAIN_NOXFILE.replace('python=["3.11", "3.12"]', 'python=["3.11", "3.12", "3.13"]'))
    drifts = check(root)
    assert [d.kind for d in drifts] == [DriftKind.PYTHON_MISMATCH]
    assert "session 'tests' runs on Python 3.11, 3.12 in CI but on 3.11, 3.12, 3.13 in noxfile.py" in str(drifts[0])


def test_a_dropped_python_is_a_mismatch_too(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    make_project(PLAIN_NOXFILE.replace('python=["3.11", "3.12"]', 'python=["3.12"]'))
    assert _kinds(root) == [DriftKind.PYTHON_MISMATCH]


def test_a_hand_edit_is_named_even_when_harmless(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    _edit(root, "timeout-minutes: 30", "timeout-minutes: 45")
    drifts = check(root)
    assert [d.kind for d in drifts] == [DriftKind.EDITED]
    assert "ci.yml was edited by hand since it was generated" in str(drifts[0])


def test_a_hand_edit_that_adds_a_job_is_named_with_its_consequence(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    _edit(
        root,
        "  ci-passed:\n",
        "  docs:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: uv run nox -s docs\n\n  ci-passed:\n",
    )
    drifts = check(root)
    assert [d.kind for d in drifts] == [DriftKind.EDITED, DriftKind.UNKNOWN_SESSION, DriftKind.GATE]
    assert "job 'docs' runs session 'docs'" in str(drifts[1])
    assert "'ci-passed' does not wait for job 'docs'" in str(drifts[2])


def test_a_hand_edited_python_matrix_is_a_mismatch(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    _edit(root, "          - '3.12'\n", "          - '3.12'\n          - '3.13'\n")
    assert _kinds(root) == [DriftKind.EDITED, DriftKind.PYTHON_MISMATCH]


def test_a_file_not_generated_by_shipyard_is_named(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    path = root / CI_WORKFLOW
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("#")) + "\n")
    drifts = check(root)
    assert [d.kind for d in drifts] == [DriftKind.EDITED]
    assert "no shipyard-digest header" in str(drifts[0])


def test_an_outdated_but_untouched_file_is_named(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    make_project(config="[tool.shipyard.ci]\ntimeout-minutes = 10\n")
    drifts = check(root)
    assert [d.kind for d in drifts] == [DriftKind.OUTDATED]


def test_regenerating_fixes_every_drift(make_project: MakeProject) -> None:
    root = make_project()
    generate(root)
    _edit(root, "timeout-minutes: 30", "timeout-minutes: 45")
    make_project(
        PLAIN_NOXFILE.replace('python=["3.11", "3.12"]', 'python=["3.13"]') + "\n@nox.session\ndef x(s):\n    pass\n"
    )
    assert check(root)
    assert generate(root) == [root / CI_WORKFLOW]
    assert check(root) == []
    assert generate(root) == []  # idempotent: nothing rewritten
