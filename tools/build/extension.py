"""Build and install the extension with Blender's own tool (blender_ext.py).

    python -m tools.build.extension      # dist/neural_morph-<version>.zip, no wheels

Zips that bundle the dependency wheels come from tools/build/wheels.py (which uses this
module; this module never imports it). Inside a bpy process, `with installed(zip) as nm:`
runs a block with the extension installed from that zip (built first when none is given).
"""
import argparse
import contextlib
import importlib
import importlib.util
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE = "bl_ext.user_default.neural_morph"


def import_checkout():
    """This checkout imported as the package `neural_morph`, not installed (the tests and
    the bench scripts that register it themselves); the one imported already, if any."""
    if "neural_morph" in sys.modules:
        return sys.modules["neural_morph"]
    spec = importlib.util.spec_from_file_location(
        "neural_morph", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["neural_morph"] = module
    spec.loader.exec_module(module)
    return module


def blender_ext():
    """Path of blender_ext.py inside the installed bpy wheel."""
    spec = importlib.util.find_spec("bpy")
    base = pathlib.Path(list(spec.submodule_search_locations)[0])
    found = sorted(base.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise FileNotFoundError("blender_ext.py not found in the bpy package")
    return found[-1]


def run_tool(*args):
    """Run blender_ext.py with `args`; returns its stdout, raises with its output on failure."""
    proc = subprocess.run([sys.executable, str(blender_ext()), *map(str, args)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"blender_ext.py {args[0]} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def validate(source=ROOT):
    return run_tool("validate", source)


def build(out_dir, source=ROOT):
    """Validate and build the zip(s) into out_dir; returns the list of zip paths."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    validate(source)
    before = set(out_dir.glob("*.zip"))
    run_tool("build", "--source-dir", source, "--output-dir", out_dir)
    made = sorted(set(out_dir.glob("*.zip")) - before) or sorted(out_dir.glob("*.zip"))
    return made


def install(zip_path):
    """Install and enable a built zip in the running Blender's user_default repository.

    Call inside a bpy process whose BLENDER_USER_RESOURCES points at a throwaway folder.
    Returns the add-on module name.
    """
    import bpy
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True)
    if result != {'FINISHED'} or MODULE not in bpy.context.preferences.addons:
        raise RuntimeError(f"installing {zip_path} failed: {result}")
    return MODULE


def disable():
    """Disable the installed extension (always do this before the process exits)."""
    import bpy
    if MODULE in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_disable(module=MODULE)


@contextlib.contextmanager
def installed(zip_path=None):
    """The extension installed and enabled from `zip_path` for the `with` block, and always
    disabled after it (a bpy process that exits with it enabled hangs). Without a zip, one
    is built into a temporary folder first. Yields the enabled add-on's module.

    Call inside a bpy process whose BLENDER_USER_RESOURCES points at a throwaway folder."""
    if zip_path is None:
        zip_path = build(tempfile.mkdtemp(prefix="neural_morph_dist_"))[0]
    try:
        yield importlib.import_module(install(zip_path))
    finally:
        disable()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"))
    args = parser.parse_args(argv)
    for z in build(args.out):
        print(f"{z}  {z.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
