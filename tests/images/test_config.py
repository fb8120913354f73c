"""[tool.shipyard.images.*]: valid tables load; every mistake is one line naming the file and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard._errors import ConfigError
from shipyard.images import load_image, load_images

REPO_ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path, image_table: str) -> Path:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "app"
            version = "2.1.0"
            urls = { Source = "https://example.invalid/app" }

            [tool.shipyard.images.app]
            """
        )
        + textwrap.dedent(image_table)
    )
    return tmp_path


GOOD = """\
context = "ctx"
package = "app"
repository = "acme/app"
build-args = { BASE_IMAGE = "base:1" }
"""


def test_this_repositorys_hello_service_image_is_configured() -> None:
    config = load_image("hello-service", REPO_ROOT)
    assert config.package == "hello-service"
    assert config.version == "1.0.0"
    assert (config.context / config.dockerfile).is_file()
    assert config.build_args["BASE_IMAGE"] == "shipyard/python-base:bookworm"


def test_a_valid_table_loads_with_defaults(tmp_path: Path) -> None:
    config = load_images(_project(tmp_path, GOOD))["app"]
    assert config.dockerfile == "Dockerfile"
    assert config.target is None
    assert config.version == "2.1.0"
    assert config.repository == "acme/app"
    assert config.source_url == "https://example.invalid/app"


@pytest.mark.parametrize(
    ("table", "key", "fragment"),
    [
        (GOOD + 'colour = "blue"\n', "tool.shipyard.images.app.colour", "unknown key 'colour'"),
        ('package = "app"\nrepository = "acme/app"\n', "tool.shipyard.images.app.context", "missing required key"),
        (
            GOOD + 'dockerfile = "Nope.Dockerfile"\n',
            "tool.shipyard.images.app.dockerfile",
            "Nope.Dockerfile does not exist",
        ),
        (GOOD.replace('"ctx"', '"missing-dir"'), "tool.shipyard.images.app.context", "does not exist"),
        (GOOD.replace('package = "app"', 'package = "other"'), "tool.shipyard.images.app.package", "not a package"),
        (GOOD.replace('"acme/app"', '"Acme/App:1"'), "tool.shipyard.images.app.repository", "not a repository"),
        (GOOD.replace('"base:1"', "3"), "tool.shipyard.images.app.build-args.BASE_IMAGE", "must be a string"),
        (GOOD + "target = 7\n", "tool.shipyard.images.app.target", "must be str"),
    ],
)
def test_bad_tables_are_one_line_errors_naming_file_and_key(
    tmp_path: Path, table: str, key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_images(_project(tmp_path, table))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'pyproject.toml'}: {key}: ")
    assert fragment in message


def test_an_unknown_image_name_lists_the_configured_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no image 'web' is configured \(configured: app\)"):
        load_image("web", _project(tmp_path, GOOD))
