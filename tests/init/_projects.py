"""Fixture projects that know nothing of Shipyard, each resembling a common real layout.

``flask_app``: flat layout, a Flask app factory (``create_app``) writing SQLite in its instance folder.
``fastapi_app``: src layout, a FastAPI ``app`` served by uvicorn in production.
``library``: a small library with classifiers for several Pythons and mypy/ruff configured; no app.
``no_deps``: no dependencies at all: a stdlib HTTP service started by a ``[project.scripts]`` entry.
``existing``: a library that already has its own noxfile and a hand-written workflow.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

__all__ = ["FIXTURES", "write"]

HATCH = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'


def _files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text.startswith(HATCH) else textwrap.dedent(text).lstrip())
    return root


def flask_app(root: Path) -> Path:
    return _files(
        root,
        {
            "pyproject.toml": HATCH
            + textwrap.dedent("""
            [project]
            name = "flaskr"
            version = "1.0.0"
            requires-python = ">=3.11"
            dependencies = ["flask>=3"]

            [dependency-groups]
            test = ["pytest>=8"]

            [tool.pytest.ini_options]
            testpaths = ["tests"]
            """),
            "flaskr/__init__.py": """
            import os
            import sqlite3

            from flask import Flask, g


            def create_app(test_config=None):
                app = Flask(__name__, instance_relative_config=True)
                app.config.from_mapping(DATABASE=os.path.join(app.instance_path, "flaskr.sqlite"))
                if test_config:
                    app.config.update(test_config)
                os.makedirs(app.instance_path, exist_ok=True)

                def db():
                    if "db" not in g:
                        g.db = sqlite3.connect(app.config["DATABASE"])
                        g.db.execute("CREATE TABLE IF NOT EXISTS visit (id INTEGER PRIMARY KEY)")
                    return g.db

                @app.teardown_appcontext
                def close(_exc):
                    conn = g.pop("db", None)
                    if conn is not None:
                        conn.close()

                @app.route("/")
                def index():
                    conn = db()
                    conn.execute("INSERT INTO visit DEFAULT VALUES")
                    conn.commit()
                    count = conn.execute("SELECT COUNT(*) FROM visit").fetchone()[0]
                    return f"flaskr visits: {count}"

                return app
            """,
            "tests/test_app.py": """
            from flaskr import create_app


            def test_index_counts_visits(tmp_path):
                app = create_app({"DATABASE": str(tmp_path / "db.sqlite"), "TESTING": True})
                client = app.test_client()
                assert client.get("/").text == "flaskr visits: 1"
                assert client.get("/").text == "flaskr visits: 2"
            """,
        },
    )


def fastapi_app(root: Path) -> Path:
    return _files(
        root,
        {
            "pyproject.toml": HATCH
            + textwrap.dedent("""
            [project]
            name = "inventory-api"
            version = "0.3.0"
            requires-python = ">=3.11"
            dependencies = ["fastapi>=0.110"]

            [dependency-groups]
            dev = ["pytest>=8", "httpx>=0.27"]

            [tool.ruff]
            line-length = 100
            """),
            "src/inventory_api/__init__.py": "",
            "src/inventory_api/main.py": """
            from fastapi import FastAPI

            app = FastAPI()


            @app.get("/")
            def root() -> dict[str, str]:
                return {"service": "inventory"}


            @app.get("/healthz")
            def healthz() -> dict[str, str]:
                return {"status": "ok"}
            """,
            "tests/test_main.py": """
            from fastapi.testclient import TestClient

            from inventory_api.main import app


            def test_root():
                assert TestClient(app).get("/").json() == {"service": "inventory"}
            """,
        },
    )


def library(root: Path) -> Path:
    return _files(
        root,
        {
            "pyproject.toml": HATCH
            + textwrap.dedent("""
            [project]
            name = "tinyslug"
            version = "2.1.0"
            requires-python = ">=3.11"
            classifiers = [
              "Programming Language :: Python :: 3.11",
              "Programming Language :: Python :: 3.12",
              "Programming Language :: Python :: 3.13",
            ]
            dependencies = []

            [tool.mypy]
            strict = true

            [tool.ruff]
            line-length = 100
            """),
            "src/tinyslug/__init__.py": '''
            """Slugs."""


            def slug(text: str) -> str:
                return "-".join(text.lower().split())
            ''',
            "tests/test_slug.py": """
            from tinyslug import slug


            def test_slug():
                assert slug("Hello  World") == "hello-world"
            """,
        },
    )


def no_deps(root: Path) -> Path:
    return _files(
        root,
        {
            "pyproject.toml": HATCH
            + textwrap.dedent("""
            [project]
            name = "plainhttp"
            version = "0.1.0"
            requires-python = ">=3.11"

            [project.scripts]
            plainhttp = "plainhttp:main"
            """),
            "plainhttp.py": """
            import os
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


            class Handler(BaseHTTPRequestHandler):
                def do_GET(self):
                    body = b"plain hello"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)


            def main():
                host = os.environ.get("HOST", "127.0.0.1")
                ThreadingHTTPServer((host, int(os.environ["PORT"])), Handler).serve_forever()
            """,
            "tests/test_handler.py": """
            import plainhttp


            def test_has_main():
                assert callable(plainhttp.main)
            """,
        },
    )


EXISTING_NOXFILE = '''
import nox

nox.options.default_venv_backend = "uv"


@nox.session(python=False)
def tests(session):
    """The project's own tests session: runs the interpreter's unittest, installs nothing."""
    session.run("python", "-m", "unittest", "discover", "-s", "tests", "-v")
'''

EXISTING_WORKFLOW = """
name: hand-written
on: [push]
jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "checks nobody must lose"
"""


def existing(root: Path) -> Path:
    return _files(
        root,
        {
            "pyproject.toml": HATCH
            + textwrap.dedent("""
            [project]
            name = "oldhand"
            version = "5.0.0"
            requires-python = ">=3.11"
            dependencies = []
            """),
            "src/oldhand/__init__.py": "VALUE = 42\n",
            "tests/test_value.py": """
            import unittest

            import oldhand


            class TestValue(unittest.TestCase):
                def test_value(self):
                    self.assertEqual(oldhand.VALUE, 42)
            """,
            "noxfile.py": EXISTING_NOXFILE,
            ".github/workflows/ci.yml": EXISTING_WORKFLOW,
            ".gitignore": "*.pyc\n/.venv\n",
        },
    )


FIXTURES: dict[str, Callable[[Path], Path]] = {
    "flask_app": flask_app,
    "fastapi_app": fastapi_app,
    "library": library,
    "no_deps": no_deps,
    "existing": existing,
}


def write(name: str, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return FIXTURES[name](root)
