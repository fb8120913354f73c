"""Helpers for the output tests: run the demo pipeline piped, or inside a real terminal (tmux)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEMO = Path(__file__).with_name("demo_run.py")
SECRET = "s3cr3t-token-value-42"


def demo_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no CI, no log format chosen, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "SHIPYARD_LOG_FORMAT", "NO_COLOR", "GITHUB_ACTIONS"}}
    return {**env, **extra}


def run_piped(root: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), str(root), "--secret", SECRET, *args],
        capture_output=True,
        text=True,
        env=dict(env if env is not None else demo_env()),
        timeout=120,
        check=False,
    )


@dataclass
class Terminal:
    """A detached tmux server of its own (``-L``), one 120x40 window: a real pseudo-terminal and screen."""

    socket: str
    width: int = 120
    height: int = 40

    def tmux(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            env=dict(env) if env is not None else None,
        ).stdout

    def start(self, command: list[str], env: Mapping[str, str]) -> None:
        """Start ``command`` in a new window (120x40 unless set), with exactly ``env`` (tmux would set its own TERM)."""
        pinned = [
            "env",
            *(f"{name}={value}" for name, value in env.items() if name in {"TERM", "NO_COLOR", "SHIPYARD_DEMO_STEP"}),
        ]
        shell = subprocess.list2cmdline([*pinned, *command])
        self.tmux(
            "new-session",
            *("-d", "-x", str(self.width), "-y", str(self.height)),
            f"{shell}; echo EXIT=$?; sleep 600",
            env=env,
        )

    def run(self, command: list[str], env: Mapping[str, str], *, timeout: float = 60, escapes: bool = False) -> str:
        """Run ``command`` in the terminal; return the whole screen with its scrollback once it exited
        (with ``escapes``, each cell's colours and attributes as escape sequences)."""
        self.start(command, env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.tmux("capture-pane", "-p", "-J", *(["-e"] if escapes else []), "-S", "-", "-t", "0")
            if "EXIT=" in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"no exit within {timeout} s; screen:\n{screen}")

    def cursor_shown(self) -> bool:
        return self.tmux("display-message", "-p", "-t", "0", "#{cursor_flag}").strip() == "1"
