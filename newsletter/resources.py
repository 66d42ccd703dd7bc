"""The files that ship with the package, and the project-first lookup over them.

The default templates (email and web, with their i18n files), the Alembic migrations and
a commented default ``config.yaml`` are package data: in a wheel they are in
``newsletter/_data/`` (``setup.py`` copies them there at build time from the repository's
top-level ``templates/``, ``migrations/`` and ``config.yaml``), found with
``importlib.resources``. An editable install or a source checkout has no ``_data``: the
top-level files beside the package are the defaults then, so edits to them show at once.

A project overrides templates file by file: :func:`template_dirs` gives the project's
``templates/<part>`` first and the packaged defaults second, for a Jinja ``ChoiceLoader``
and for the i18n texts (:meth:`newsletter.web.i18n.Catalog.load`).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from newsletter.errors import ConfigError
from newsletter.settings import Settings

#: The folder inside the installed package that holds the data (see ``setup.py``).
DATA_FOLDER = "_data"


@cache
def data_dir() -> Path:
    """The folder holding the packaged ``templates/``, ``migrations/`` and ``config.yaml``."""
    package = files("newsletter")
    if not isinstance(package, Path):
        raise ConfigError("newsletter must be installed as files (not inside a zip archive)")
    packaged = package / DATA_FOLDER
    if (packaged / "templates").is_dir():
        return packaged
    checkout = package.parent  # editable install or source checkout: the top-level files
    if (checkout / "templates").is_dir() and (checkout / "migrations").is_dir():
        return checkout
    raise ConfigError(
        f"{packaged}: the packaged templates and migrations are missing; reinstall newsletter"
    )


def default_templates() -> Path:
    """The packaged default templates (``email/``, ``web/``, ``web/admin/``)."""
    return data_dir() / "templates"


def migrations_dir() -> Path:
    """The packaged Alembic migrations (``env.py``, ``versions/``)."""
    return data_dir() / "migrations"


def default_config() -> Path:
    """The packaged, commented default ``config.yaml``."""
    return data_dir() / "config.yaml"


def template_dirs(settings: Settings, part: str) -> list[Path]:
    """Where ``templates/<part>`` files are looked up: the project's, then the packaged ones.

    The project's folder need not exist (a folder with no project uses the defaults);
    when the project's templates *are* the defaults (a source checkout), it is listed once.
    """
    project = settings.path(settings.templates_dir) / part
    packaged = default_templates() / part
    if project.resolve() == packaged.resolve():
        return [packaged]
    return [project, packaged]
