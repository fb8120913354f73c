"""What a person sees: a live table in a real terminal, plain lines in a pipe, JSON only when asked or in CI.

The command is a pipeline run with several stages (build steps, push progress, deploy phases, a warning that
carries a secret), logged through the real output layer; a real deploy is left to tests/deploy.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from ._terminal import DEMO, SECRET, Terminal, demo_env, run_piped

LINE = re.compile(r"^\d\d:\d\d:\d\d \S+ +\S* +\S")


def test_a_terminal_shows_one_live_table_below_the_log_lines(terminal: Terminal, tmp_path: Path) -> None:
    screen = terminal.run(
        [sys.executable, str(DEMO), str(tmp_path), "--secret", SECRET], demo_env(TERM="xterm")
    ).splitlines()
    assert "EXIT=0" in screen
    headers = [i for i, line in enumerate(screen) if line.startswith("┃ stage")]
    titles = [i for i, line in enumerate(screen) if line.strip() == "pipeline deploy-demo"]
    assert len(headers) == 1, "\n".join(screen)  # the live region was never broken, so never drawn twice
    assert len(titles) == 1
    table = screen[headers[0] :]
    for stage in ("image", "push", "deploy"):
        assert any(re.match(rf"^│ {stage} +│ passed ", line) for line in table), table
    logged = screen[: titles[0]]
    assert any(line.endswith("deploy   local    switched traffic (previous: demo-old)") for line in logged)
    assert any(line.endswith("image    image    step 3/5 RUN echo step 3") for line in logged)
    assert any("warning: demo.note note=the token is ***" in line for line in logged)
    assert not any(SECRET in line for line in screen)


def test_the_live_table_shows_each_stage_progress(terminal: Terminal, tmp_path: Path) -> None:
    # Slow the demo down and look at the screen while the push runs: its row shows layers and bytes.
    terminal.start([sys.executable, str(DEMO), str(tmp_path)], demo_env(TERM="xterm", SHIPYARD_DEMO_STEP="0.6"))
    seen: set[str] = set()
    for _ in range(100):
        screen = terminal.tmux("capture-pane", "-p", "-t", "0")
        seen |= {
            m.group(0)
            for m in re.finditer(
                r"step \d/5 RUN echo step \d|pushing \d/4 layers, [\d.]+/8\.0 MB"
                r"|healthy|switched traffic",
                screen,
            )
        }
        if "critical path" in screen:
            break
        subprocess.run(["sleep", "0.25"], check=True)
    assert any(s.startswith("pushing") for s in seen), seen
    assert any(s.startswith("step") for s in seen), seen


def test_piped_output_is_plain_readable_lines(tmp_path: Path) -> None:
    proc = run_piped(tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines, proc.stderr
    assert "\x1b[" not in proc.stderr  # no colour, no cursor movement
    assert all(LINE.match(line) for line in lines), lines
    assert any(line.endswith("deploy   local    switched traffic (previous: demo-old)") for line in lines)
    assert any(
        line.endswith("pipeline push     passed in 0.6 s  pushed 127.0.0.1:1/demo@sha256:abc")
        or "pipeline push     passed in" in line
        for line in lines
    )
    assert SECRET not in proc.stderr
    assert proc.stdout == "done\n"


def test_dumb_terminal_gets_plain_lines_and_no_live_table(terminal: Terminal, tmp_path: Path) -> None:
    screen = terminal.run([sys.executable, str(DEMO), str(tmp_path)], demo_env(TERM="dumb"))
    assert "┃ stage" not in screen
    assert "deploy   local    drained the previous version" in screen


def _events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines()]


def test_log_format_json_is_json_lines(tmp_path: Path) -> None:
    proc = run_piped(tmp_path, "--log-format", "json")
    assert proc.returncode == 0, proc.stderr
    events = _events(proc.stderr)
    phases = [e["phase"] for e in events if e["event"] == "deploy.phase"]
    assert phases == ["starting", "started", "healthy", "switched", "baked", "drained"]
    assert all({"timestamp", "level", "event"} <= e.keys() for e in events)
    assert {e["stage"] for e in events if e["event"] == "deploy.phase"} == {"deploy"}  # bound to its stage
    assert SECRET not in proc.stderr
    assert any(e["event"] == "demo.note" and e["note"] == "the token is ***" for e in events)


def test_json_in_ci_and_with_the_environment_variable(tmp_path: Path) -> None:
    for env in (demo_env(CI="true"), demo_env(SHIPYARD_LOG_FORMAT="json")):
        proc = run_piped(tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert any(e["event"] == "run finished" for e in _events(proc.stderr))
    # Asked for plain lines, CI gets them too.
    proc = run_piped(tmp_path, "--log-format", "plain", env=demo_env(CI="true"))
    assert all(LINE.match(line) for line in proc.stderr.splitlines()), proc.stderr


def test_a_bad_log_format_is_one_line_naming_the_option(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("from shipyard.tasks import ns\n")
    for args, env, where in (
        (["--log-format", "yaml"], demo_env(), "--log-format"),
        ([], demo_env(SHIPYARD_LOG_FORMAT="xml"), "SHIPYARD_LOG_FORMAT"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", "history", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"invoke: error: {where}: unknown log format {(args[1] if args else 'xml')!r}; use one of auto, json, plain"
        ]


def test_no_color_leaves_the_log_lines_uncoloured(terminal: Terminal, tmp_path: Path) -> None:
    def log_lines(term: Terminal, env: dict[str, str]) -> list[str]:
        screen = term.run([sys.executable, str(DEMO), str(tmp_path)], env, escapes=True)
        return [line for line in screen.splitlines() if "switched traffic" in line or "step 2/5" in line]

    coloured = log_lines(terminal, demo_env(TERM="xterm"))
    second = Terminal(f"{terminal.socket}-b")
    try:
        plain = log_lines(second, demo_env(TERM="xterm", NO_COLOR="1"))
    finally:
        subprocess.run(["tmux", "-L", second.socket, "kill-server"], capture_output=True, check=False, timeout=30)
    assert len(coloured) == len(plain) == 2
    assert all("\x1b[" in line for line in coloured)  # the time and the names are dimmed
    assert not any("\x1b[" in line for line in plain)


def test_log_lines_racing_the_first_refresh_never_draw_a_second_table(terminal: Terminal, tmp_path: Path) -> None:
    # A loaded machine: the table draws slowly and worker threads log just as the first refresh is due.
    script = Path(__file__).with_name("slow_terminal_run.py")
    screen = terminal.run([sys.executable, str(script), str(tmp_path)], demo_env(TERM="xterm")).splitlines()
    assert "EXIT=0" in screen, "\n".join(screen)
    headers = [i for i, line in enumerate(screen) if line.startswith("┃ stage")]
    assert len(headers) == 1, "\n".join(screen)
    ticks = [line for line in screen[: headers[0]] if " tick n=" in line]
    assert len(ticks) == 3 * 2 * 6, "\n".join(screen)  # every line, once, above the table
    for index in range(3):
        assert any(re.match(rf"^│ stage{index} +│ passed .*ticked {index}", line) for line in screen), screen


MANY = Path(__file__).with_name("many_stages_run.py")


def test_a_table_taller_than_the_terminal_finishes_and_is_drawn_once(terminal: Terminal, tmp_path: Path) -> None:
    # 15 stages in an 80x10 terminal: the live table is cut to the screen, every line of 200 characters wraps.
    terminal.width, terminal.height = 80, 10
    screen = terminal.run([sys.executable, str(MANY), str(tmp_path), "15", "1.5"], demo_env(TERM="xterm"))
    lines = screen.splitlines()
    assert "EXIT=0" in lines, screen
    assert len([line for line in lines if line.startswith("┃ stage")]) == 1, screen
    for index in range(15):  # the final table is drawn whole, below the log lines
        assert any(re.match(rf"^│ stage-number-{index} +│ passed .*done {index}", line) for line in lines), screen
    assert terminal.cursor_shown()


def test_ctrl_c_during_a_live_run_leaves_the_terminal_sane(terminal: Terminal, tmp_path: Path) -> None:
    terminal.start([sys.executable, str(MANY), str(tmp_path), "4", "30"], demo_env(TERM="xterm"))
    for _ in range(100):
        if "running" in terminal.tmux("capture-pane", "-p", "-t", "0"):
            break
        subprocess.run(["sleep", "0.1"], check=True)
    subprocess.run(["sleep", "0.5"], check=True)
    terminal.tmux("send-keys", "-t", "0", "C-c")
    for _ in range(150):
        screen = terminal.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "0")
        if "EXIT=" in screen:
            break
        subprocess.run(["sleep", "0.2"], check=True)
    lines = screen.splitlines()
    assert "EXIT=130" in lines, screen
    assert len([line for line in lines if line.startswith("┃ stage")]) == 1, screen
    assert len([line for line in lines if re.match(r"^│ stage-number-\d +│ cancelled ", line)]) == 4, screen
    assert "Traceback" not in screen
    assert terminal.cursor_shown()


def test_an_error_is_a_json_line_when_json_was_asked_for(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("from shipyard.tasks import ns\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "plain"\nversion = "0"\n')
    for args, env in ((["--log-format", "json"], demo_env()), ([], demo_env(SHIPYARD_LOG_FORMAT="json"))):
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", "history", "--env", "nowhere", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        events = _events(proc.stderr)  # every line on stderr is JSON, the error too
        assert [(e["event"], e["level"], e["exit_code"]) for e in events] == [("error", "error", 2)]
        assert str(events[0]["message"]).startswith("invoke: error: ")
        assert "no environments defined" in str(events[0]["message"])


def test_stdout_piped_away_keeps_its_data_while_the_table_is_live(terminal: Terminal, tmp_path: Path) -> None:
    # ``invoke ... > out.txt`` on a terminal: the table and the log lines are on stderr (the terminal), and
    # what the run prints to stdout goes to the file, not into the live console.
    script, out = Path(__file__).with_name("stdout_run.py"), tmp_path / "out.txt"
    shell = f"{subprocess.list2cmdline([sys.executable, str(script), str(tmp_path)])} > {out}"
    screen = terminal.run(["sh", "-c", shell], demo_env(TERM="xterm"))
    assert "EXIT=0" in screen, screen
    assert out.read_text().splitlines() == [f"payload line {n}" for n in range(3)], screen
    assert "payload line" not in screen
    assert "┃ stage" in screen


def test_a_run_whose_report_cannot_be_written_says_so_and_gives_the_terminal_back(
    terminal: Terminal, tmp_path: Path
) -> None:
    # The run report cannot be written (its directory is a file): the run says so in a warning line above the
    # table, the terminal gets its cursor back and the table is left whole, the shell prompt on a line of its own.
    (tmp_path / ".shipyard").mkdir()
    (tmp_path / ".shipyard" / "runs").write_text("not a directory")
    screen = terminal.run([sys.executable, str(MANY), str(tmp_path), "2", "0.3"], demo_env(TERM="xterm"))
    lines = screen.splitlines()
    assert "EXIT=0" in lines, screen
    assert "the run report could not be written" in screen
    assert len([line for line in lines if line.startswith("┃ stage")]) == 1, screen
    assert terminal.cursor_shown(), screen


def test_invoke_check_with_log_format_json_writes_only_json_lines(tmp_path: Path) -> None:
    from shipyard.testing import make_check_project

    root = make_check_project(tmp_path / "proj", failing="typecheck")
    invoke = str(Path(sys.executable).parent / "invoke")
    proc = subprocess.run(
        [invoke, "check", "--explain", "--log-format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        env=demo_env(),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    events = _events(proc.stderr)  # the failing output, the cache explanations and the error: all JSON
    failed = [e for e in events if e["event"] == "stage failed"]
    assert [e["stage"] for e in failed] == ["typecheck"]
    assert "FAILED typecheck" in str(failed[0]["output"])
    assert any(e["event"] == "cache miss" and e["stage"] == "lint" for e in events), events
    assert events[-1]["event"] == "error"
