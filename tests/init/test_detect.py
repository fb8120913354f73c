"""Finding the app and reading a project, on fixture projects (no uv, no network: parsing only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard._errors import ConfigError
from shipyard._init import Options, detect, find_app, plan
from shipyard._init._app import parse_app

from ._projects import write


@pytest.mark.parametrize(
    ("name", "kind", "target", "layout"),
    [
        ("flask_app", "wsgi", "flaskr:create_app()", "flat"),
        ("fastapi_app", "asgi", "inventory_api.main:app", "src"),
        ("no_deps", "script", "plainhttp", "flat"),
    ],
)
def test_the_app_is_found_without_importing_the_project(
    tmp_path: Path, name: str, kind: str, target: str, layout: str
) -> None:
    root = write(name, tmp_path / name)
    (root / "conftest.py").write_text("raise SystemExit('init must never import the project')\n")
    project = detect(root)
    app = find_app(project)
    assert project.layout == layout
    assert app is not None
    assert (app.kind, app.target) == (kind, target)


def test_the_health_route_the_app_declares_is_the_deploy_health_path(tmp_path: Path) -> None:
    fastapi = plan(write("fastapi_app", tmp_path / "a"), Options())
    flask = plan(write("flask_app", tmp_path / "f"), Options())
    assert 'health_path = "/healthz"' in fastapi.tables  # @app.get("/healthz")
    assert 'health_path = "/"' in flask.tables  # only "/" is declared


@pytest.mark.parametrize("name", ["library", "existing"])
def test_a_library_has_no_app_and_gets_no_image(tmp_path: Path, name: str) -> None:
    made = plan(write(name, tmp_path / name), Options())
    assert made.app is None
    assert [change.path for change in made.files] == ["noxfile.py", "tasks.py", ".gitignore"]
    assert "images" not in made.tables
    assert "environments" not in made.tables


def test_servers_are_added_as_runtime_dependencies(tmp_path: Path) -> None:
    wsgi = plan(write("flask_app", tmp_path / "f"), Options())
    asgi = plan(write("fastapi_app", tmp_path / "a"), Options())
    plain = plan(write("no_deps", tmp_path / "n"), Options())
    assert (None, ["gunicorn>=23"]) in wsgi.dependencies
    assert (None, ["uvicorn>=0.30"]) in asgi.dependencies  # plain uvicorn on $PORT: the deploy contract
    assert all(group is not None for group, _ in plain.dependencies)  # a stdlib server needs nothing


def test_app_option_overrides_and_is_checked(tmp_path: Path) -> None:
    root = write("flask_app", tmp_path / "flask")
    made = plan(root, Options(app="flaskr:create_app"))
    assert made.app is not None
    assert (made.app.kind, made.app.target) == ("wsgi", "flaskr:create_app")
    with pytest.raises(ConfigError, match=r"no module 'nowhere'"):
        parse_app("nowhere:app", detect(root))
    with pytest.raises(ConfigError, match="expected module:attr"):
        parse_app("flaskr", detect(root))


def test_no_pyproject_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        detect(tmp_path)
    assert "no pyproject.toml in" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_tests_session_uses_the_group_that_already_has_pytest(tmp_path: Path) -> None:
    made = plan(write("fastapi_app", tmp_path / "a"), Options(shipyard="shipyard"))
    noxfile = made.files[0].text
    assert 'groups=["dev"]' in noxfile  # pytest and httpx live in the project's dev group
    assert ("test", ["pytest>=8", "shipyard"]) not in made.dependencies
    assert ("dev", ["shipyard"]) in made.dependencies


def test_dynamic_dependencies_are_not_edited_and_say_why(tmp_path: Path) -> None:
    root = write("flask_app", tmp_path / "flask")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('dependencies = ["flask>=3"]', 'dynamic = ["dependencies"]'))
    made = plan(root, Options())
    assert all(group is not None for group, _ in made.dependencies)
    assert any("dependencies are dynamic" in note and "gunicorn" in note for note in made.notes)


def test_a_name_with_dots_and_capitals_gives_a_bare_key_and_a_valid_repository(tmp_path: Path) -> None:
    root = write("flask_app", tmp_path / "flask")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('name = "flaskr"', 'name = "Acme.Flaskr_App"'))
    made = plan(root, Options())
    assert "[tool.shipyard.images.acme-flaskr-app]" in made.tables
    assert 'repository = "acme-flaskr-app"' in made.tables
    assert 'package = "Acme.Flaskr_App"' in made.tables


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'x'\n")
    with pytest.raises(ConfigError) as caught:
        detect(tmp_path)
    assert "invalid TOML" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_port_and_registry_options_are_one_line(tmp_path: Path) -> None:
    root = write("flask_app", tmp_path / "flask")
    with pytest.raises(ConfigError, match=r"--port 70000: not a TCP port"):
        plan(root, Options(port=70000))
    with pytest.raises(ConfigError, match=r"--registry 'http://127.0.0.1:5000': pass host:port without a scheme"):
        plan(root, Options(registry="http://127.0.0.1:5000"))


def test_a_port_in_use_is_noted(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        taken = server.getsockname()[1]
        made = plan(write("flask_app", tmp_path / "flask"), Options(port=taken))
    assert f"port {taken} is in use right now" in " ".join(made.notes)
    assert f"port = {taken}" in made.tables


def test_a_python_the_base_image_lacks_is_noted(tmp_path: Path) -> None:
    root = write("flask_app", tmp_path / "flask")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires-python = ">=3.11"', 'requires-python = ">=3.12"'))
    made = plan(root, Options())
    assert any("excludes the base image's Python 3.11" in note for note in made.notes)
    assert not any("excludes" in note for note in plan(write("flask_app", tmp_path / "ok"), Options()).notes)


def _dockerfile(made: object) -> str:
    return next(change.text for change in made.files if change.path == "Dockerfile")  # type: ignore[attr-defined]


def test_the_image_serves_the_app_on_port_and_nothing_else(tmp_path: Path) -> None:
    """The deploy contract: listen on $PORT (on $HOST, 127.0.0.1 by default); no second port, no SO_REUSEPORT."""
    asgi = _dockerfile(plan(write("fastapi_app", tmp_path / "a"), Options()))
    wsgi = _dockerfile(plan(write("flask_app", tmp_path / "f"), Options()))
    root = write("fastapi_app", tmp_path / "g")
    with (root / "src/inventory_api/main.py").open("a") as main:
        main.write("\n\ndef create_app():\n    return FastAPI()\n")
    factory = _dockerfile(plan(root, Options(app="inventory_api.main:create_app()")))
    assert 'CMD exec uvicorn --host "$HOST" --port "$PORT"' in asgi
    assert "'inventory_api.main:app'" in asgi
    assert "--factory 'inventory_api.main:create_app'" in factory
    assert '--bind "$HOST:$PORT"' in wsgi
    assert "'flaskr:create_app()'" in wsgi
    for text in (asgi, wsgi, factory):
        assert "HEALTH_PORT" not in text
        assert "reuse-port" not in text
        assert "uvicorn_worker" not in text


def _flask_project(root: Path, files: dict[str, str]) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\nversion = "0.1.0"\ndependencies = ["flask>=3"]\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    for name, text in files.items():
        (root / "pkg" / name).write_text(text)
    return root


def test_app_option_must_name_something_the_module_defines_and_can_serve(tmp_path: Path) -> None:
    root = _flask_project(
        tmp_path / "p",
        {
            "__init__.py": "from flask import Flask\nfrom .views import bp as blueprint\napp = Flask(__name__)\n"
            "NOT_AN_APP = 3\n\ndef create_app(config):\n    return app\n\ndef make_app(debug=False):\n    return app\n",
            "views.py": "bp = object()\n",
        },
    )
    project = detect(root)
    with pytest.raises(ConfigError, match=r"--app 'pkg:nothere': pkg/__init__.py defines no 'nothere'"):
        parse_app("pkg:nothere", project)
    with pytest.raises(ConfigError, match=r"'NOT_AN_APP' is a constant, not an app"):
        parse_app("pkg:NOT_AN_APP", project)
    with pytest.raises(ConfigError, match=r"'app' is not a function, so 'app\(\)' cannot call it"):
        parse_app("pkg:app()", project)
    with pytest.raises(ConfigError, match=r"create_app\(\) needs arguments \(config\)"):
        parse_app("pkg:create_app()", project)
    assert parse_app("pkg:make_app()", project).target == "pkg:make_app()"  # its arguments have defaults
    assert parse_app("pkg:app", project).target == "pkg:app"
    assert parse_app("pkg:blueprint", project).target == "pkg:blueprint"  # imported: init cannot tell, trusts it


def test_a_factory_that_needs_arguments_is_not_served_and_is_named(tmp_path: Path) -> None:
    root = _flask_project(
        tmp_path / "p",
        {"__init__.py": "from flask import Flask\n\ndef create_app(config):\n    return Flask(__name__)\n"},
    )
    made = plan(root, Options())
    assert made.app is None
    assert any("create_app() needs arguments (config)" in note and "--app" in note for note in made.notes)


def test_two_candidate_apps_the_one_chosen_and_the_other_are_reported(tmp_path: Path) -> None:
    root = _flask_project(
        tmp_path / "p",
        {
            "__init__.py": "",
            "web.py": "from flask import Flask\napp = Flask(__name__)\n",
            "api.py": "from fastapi import FastAPI\napp = FastAPI()\n",
        },
    )
    made = plan(root, Options())
    assert made.app is not None
    other = "pkg.web:app" if made.app.target == "pkg.api:app" else "pkg.api:app"
    assert any(f"also found {other}" in note and "--app" in note for note in made.notes), made.notes


def test_a_project_in_a_git_subdirectory_gets_no_workflow_github_would_never_run(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    root = write("flask_app", tmp_path / "repo" / "services" / "web")
    made = plan(root, Options())
    assert not made.workflows
    assert any("services/web" in note and "repository root" in note for note in made.notes), made.notes
    at_top = plan(write("flask_app", tmp_path / "top"), Options())
    assert at_top.workflows


def test_a_poetry_project_is_told_to_migrate_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.poetry]\nname = "pp"\nversion = "0.1.0"\n')
    with pytest.raises(ConfigError, match=r"\[tool.poetry\].*PEP 621.*migrate-to-uv"):
        detect(tmp_path)


def test_an_invalid_project_name_is_one_line_at_detect_time(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a b!"\nversion = "1"\n')
    with pytest.raises(ConfigError, match=r"'a b!' is not a valid package name"):
        detect(tmp_path)


def test_diff_says_an_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    from shipyard._init import init

    root = write("flask_app", tmp_path / "f")
    (root / "tasks.py").write_text("# mine\n")
    _, report = init(root, Options(diff=True))
    assert "tasks.py: exists, so init keeps it; --force would write:" in report.diff
    assert (root / "tasks.py").read_text() == "# mine\n"
    _, forced = init(root, Options(diff=True, force=True))
    assert not any("init keeps it" in line for line in forced.diff)


def test_a_kept_dockerignore_that_lets_the_venv_in_is_named(tmp_path: Path) -> None:
    root = write("flask_app", tmp_path / "f")
    (root / ".dockerignore").write_text("*.pyc\n")
    assert any(".dockerignore" in note and ".venv" in note for note in plan(root, Options()).notes)
    (root / ".dockerignore").write_text("*.pyc\n.venv/\n.nox\n")
    assert not any(".dockerignore" in note for note in plan(root, Options()).notes)
