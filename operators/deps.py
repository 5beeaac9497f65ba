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
    out = {}
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


def require():
    """Raise RuntimeError with install instructions when a dependency is missing."""
    absent = missing()
    if absent:
        raise RuntimeError(f"Neural Morph needs {', '.join(absent)}. {INSTALL_HINT}")
