"""Which optional Python dependencies are importable (no heavy imports)."""
import importlib.metadata
import importlib.util

REQUIRED = ("torch", "torchdiffeq", "scipy")
INSTALL_HINT = (
    "Install the extension build that bundles its dependencies (Edit > Preferences > Get "
    "Extensions > Install from Disk), or run Blender's Python with: "
    "-m pip install torch==2.13.0 torchdiffeq scipy")


def versions():
    """{package: version string or None when it cannot be imported}."""
    out: dict[str, str | None] = {}
    for name in REQUIRED:
        if importlib.util.find_spec(name) is None:
            out[name] = None
            continue
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def missing():
    """Names of required packages that are not importable, in a fixed order."""
    return [name for name, version in versions().items() if version is None]


def message():
    """What to tell the user when a dependency is missing, else None."""
    absent = missing()
    return f"Neural Morph needs {', '.join(absent)}. {INSTALL_HINT}" if absent else None


class MissingDependency(RuntimeError):
    """A required package is not importable; the message says how to install it."""


def require():
    """Raise MissingDependency with install instructions when a dependency is missing."""
    text = message()
    if text:
        raise MissingDependency(text)
