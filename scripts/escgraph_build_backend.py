"""PEP 517 build backend for escgraph: setuptools' own (``setuptools.build_meta``), less one informational notice.

escgraph maps several top-level folders into one namespace (``package-dir`` in pyproject.toml), so an editable
install needs setuptools' import finder, and setuptools then prints an "Editable installation" notice
(``setuptools.warnings.InformationOnly``, no action needed) on every ``pip install -e .``. Only that category is
silenced; every other setuptools warning (packages missing from the list, deprecations) is still printed, and
tests/test_packaging.py fails on any.
"""

from __future__ import annotations

import warnings

from setuptools.build_meta import *  # noqa: F401,F403 - the hooks pip calls
from setuptools.build_meta import __all__  # noqa: F401
from setuptools.warnings import InformationOnly

warnings.filterwarnings("ignore", category=InformationOnly)
