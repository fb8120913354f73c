"""``shipyard ci pins``: list the pins, and move them to a newer release with one command.

``update`` resolves each tag with ``git ls-remote`` against ``<actions-git-base>/<owner>/<repo>``, writes the
commit and version into ``[tool.shipyard.ci.pins]``, then regenerates the workflows. Nothing is written unless
every requested action resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard import _command
from shipyard._errors import ConfigError
from shipyard.ci._config import CiConfig, load_config
from shipyard.ci._pins import DEFAULTS, Pin, repository_of, valid_action
from shipyard.ci._pins_file import write_pins
from shipyard.ci._sessions import Runner
from shipyard.ci._tags import resolve

__all__ = ["PinRow", "Update", "pin_rows", "update_pins"]


@dataclass(frozen=True)
class PinRow:
    pin: Pin
    source: str  # "built-in", "[tool.shipyard.ci.pins]" (overrides a built-in) or "[tool.shipyard.ci.pins] (extra)"


@dataclass(frozen=True)
class Update:
    """One action's move; ``note`` says what the user should know (an annotated tag peeled, already current)."""

    old: Pin | None
    new: Pin
    note: str = ""

    def __str__(self) -> str:
        if self.old and self.old == self.new:
            line = f"{self.new.action}: already at {self.new.version} ({self.new.sha})"
        elif self.old:
            line = (
                f"{self.new.action}: {self.old.version} -> {self.new.version} ({self.old.sha[:12]} -> {self.new.sha})"
            )
        else:
            line = f"{self.new.action}: pinned {self.new.version} ({self.new.sha})"
        return f"{line}; {self.note}" if self.note else line


def pin_rows(config: CiConfig) -> list[PinRow]:
    rows = []
    for action, pin in config.pins.items():
        if action not in config.pin_overrides:
            source = "built-in"
        elif action in DEFAULTS:
            source = f"[tool.shipyard.ci.pins] (built-in: {DEFAULTS[action].version})"
        else:
            source = "[tool.shipyard.ci.pins] (extra)"
        rows.append(PinRow(pin, source))
    return rows


def update_pins(
    root: Path, action: str | None = None, to: str | None = None, *, run: Runner = _command.run
) -> list[Update]:
    """Resolve and record new pins (every pinned action, or ``action``); the caller regenerates the workflows."""
    config = load_config(root)
    if to and not action:
        raise ConfigError(
            "--to needs an ACTION: a version belongs to one action (shipyard ci pins update ACTION --to TAG)"
        )
    if action is not None and not valid_action(action):
        raise ConfigError(f"{action!r} is not an action name; use owner/repo, e.g. actions/checkout")
    actions = [action] if action else list(config.pins)
    updates = []
    for name in actions:
        url = f"{config.actions_git_base}/{repository_of(name)}"
        resolved = resolve(name, url, to, run=run)
        note = ""
        if resolved.tag_object:
            note = (
                f"{resolved.tag} is an annotated tag (tag object {resolved.tag_object[:12]}); "
                "pinned the commit it points to"
            )
        updates.append(Update(config.pins.get(name), Pin(name, resolved.sha, resolved.tag), note))
    changed = [u.new for u in updates if u.old != u.new or u.new.action not in config.pin_overrides]
    if changed:
        from shipyard.ci._workflows import refuse_hand_written, render_project

        # The workflows are regenerated after the pins move; a hand-written one would stop that halfway.
        paths = [workflow.path for workflow in render_project(root, run=run)]
        refuse_hand_written(root, paths, then="which `pins update` would regenerate, so no pin was written")
        write_pins(root / "pyproject.toml", changed)
    return updates
