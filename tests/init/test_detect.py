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
    assert (None, ["gunicorn>=23", "uvicorn>=0.30", "uvicorn-worker>=0.3"]) in asgi.dependencies
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
