"""Where the dataset files are: ``$MTLNOTES_DATA``, the workspace's ``shared/data`` beside a checkout, or the cache.

Light on purpose (standard library only): ``import mtlnotes`` calls :func:`export_data_dir` before anything
else runs, so every process agrees on one absolute folder.

The rule, first match wins:

1. ``$MTLNOTES_DATA``. A relative value is resolved once, against the **checkout root** (the folder holding
   ``pyproject.toml`` and ``mtlnotes/``) when the package runs from a source checkout, else against the working
   directory, and written back to ``os.environ`` as an absolute path. So the README's
   ``export MTLNOTES_DATA=../shared/data`` means the same folder from the repository root, from ``notebooks/``
   (where Jupyter kernels run) and from anywhere else, and the kernels nbval starts inherit the absolute path.
2. ``<checkout>/../shared/data`` when the package runs from a checkout and that folder exists (the workspace
   layout that CI uses): no export needed.
3. ``$XDG_CACHE_HOME/mtlnotes`` (default ``~/.cache/mtlnotes``): files are downloaded there when possible.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_VAR", "checkout_root", "data_dir", "describe_data_dir", "export_data_dir"]

#: The environment variable that names the data folder.
ENV_VAR = "MTLNOTES_DATA"

#: The relative value :func:`export_data_dir` replaced (for messages), or None.
_given_relative: str | None = None


def checkout_root() -> Path | None:
    """The source checkout this package runs from (the folder with ``pyproject.toml``), or None when installed."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "mtlnotes" / "__init__.py").is_file():
        return root
    return None


def _resolve(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (checkout_root() or Path.cwd()) / path
    return Path(os.path.normpath(path))


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given (relative to the working directory), else the rule in the module doc."""
    if root is not None:
        return Path(os.path.abspath(Path(root).expanduser()))
    env = os.environ.get(ENV_VAR)
    if env:
        return _resolve(env)
    checkout = checkout_root()
    if checkout is not None and (checkout.parent / "shared" / "data").is_dir():
        return checkout.parent / "shared" / "data"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mtlnotes"


def describe_data_dir(root: str | os.PathLike | None = None) -> str:
    """One phrase saying which folder is used and why, for error messages."""
    path = data_dir(root)
    if root is not None:
        return f"{path} (given as {os.fspath(root)!r})"
    env = os.environ.get(ENV_VAR)
    if env:
        given = env if env != str(path) else _given_relative
        return f"{path} (from {ENV_VAR}={given!r}, resolved against {checkout_root() or Path.cwd()})" if given else (
            f"{path} (from {ENV_VAR})")
    if path.name == "data" and path.parent.name == "shared":
        return f"{path} (the workspace's shared/data beside the checkout; {ENV_VAR} is not set)"
    return f"{path} (the default cache; {ENV_VAR} is not set)"


def export_data_dir() -> None:
    """Make a relative ``$MTLNOTES_DATA`` absolute in ``os.environ`` (once, at ``import mtlnotes``).

    Processes started afterwards (Jupyter kernels in ``notebooks/``, subprocesses in other folders) inherit the
    absolute path and so read the same folder.
    """
    global _given_relative
    env = os.environ.get(ENV_VAR)
    if env and not Path(env).expanduser().is_absolute():
        _given_relative = env
        os.environ[ENV_VAR] = str(_resolve(env))
