"""The line `invoke deploy` prints at the end says everything a person must know about the outcome: fast, no engine."""

from __future__ import annotations

import pytest

from shipyard.deploy._model import DeployResult
from shipyard.tasks._deploy import _finish


def test_a_deploy_that_finished_despite_a_signal_says_so_in_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C past the point of no return: exit 0 (the new version serves), and the printed line says plainly that
    the signal came too late to undo, not a bare "succeeded" the person who pressed Ctrl-C would misread."""
    reason = (
        "SIGINT arrived past the point of no return (last phase 'stopping', the new version proven and serving): "
        "too late to undo, the deploy finished"
    )
    image = "reg/app@sha256:" + "a" * 64
    result = DeployResult("20261202T000000Z-abcd0001", "stg", "docker", image, "succeeded", 3.0, reason=reason)
    _finish(result, as_json=False)  # no exception: exit 0
    out = capsys.readouterr().out
    assert out.startswith("succeeded: stg (docker)")
    assert "SIGINT arrived past the point of no return" in out
    assert "too late to undo, the deploy finished" in out


def test_a_plain_success_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    result = DeployResult("20261202T000000Z-abcd0002", "stg", "docker", "reg/app@sha256:" + "b" * 64, "succeeded", 2.0)
    _finish(result, as_json=False)
    assert capsys.readouterr().out.strip().count("\n") == 0
