"""Build hook: the top-level ``templates/``, ``migrations/`` and ``config.yaml`` go in the wheel.

They stay where the repository's layout puts them (one copy in git). Building a wheel
(also from the sdist, which carries them through MANIFEST.in) copies them into
``newsletter/_data/``, where :mod:`newsletter.resources` finds them with
``importlib.resources``. An editable install (``pip install -e``) copies nothing: it reads
the top-level files themselves, so edits show at once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE_DATA = ("templates", "migrations", "config.yaml")


class BuildPyWithData(build_py):
    """``build_py`` that also copies the project's data into ``newsletter/_data``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "newsletter" / "_data"
        shutil.rmtree(target, ignore_errors=True)
        for name in PACKAGE_DATA:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / name)


setup(cmdclass={"build_py": BuildPyWithData})
