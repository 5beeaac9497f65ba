"""Install the zip that `make extension` built into a bare Blender of each version.

    python -m tools.build.check_install dist/neural_morph-*-linux_x64.zip --blender 4.2 4.5 5.0

What a user does: a Blender with no torch, the extension installed from its zip by that
version's own extension system (`bpy.ops.extensions.package_install_files`, the code of
the version's bl_pkg, which installs the bundled wheels), enabled, and one small fit. Each
version gets a venv holding only its `bpy` (`.venv-bare-<version>`, pinned by the same
requirements files as the test venvs, minus torch), so the torch that runs is the one the
zip brought. Prints one line per version and exits non-zero if any failed.
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

from tools.build.extension import ROOT

DEFAULT_BLENDER = "4.5"

CHECK = """
import os, sys, time
os.environ["BLENDER_USER_RESOURCES"] = sys.argv[2]
try:
    import torch
    sys.exit("this venv already has torch: the check would not test the bundled wheels")
except ImportError:
    pass
import bpy
from tools.build import extension  # `-c` in the repository root (check's cwd) puts the root first on sys.path
t0 = time.perf_counter()
with extension.installed(sys.argv[1]):
    print("INSTALLED", round(time.perf_counter() - t0, 1), flush=True)
    import torch
    print("TORCH", torch.__version__, torch.__file__, flush=True)
    assert sys.argv[2] in torch.__file__, "torch did not come from the extension's wheels"
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add()
    result = bpy.ops.neural_morph.fit(iterations=20, points=128, resolution=2)
    morph = bpy.context.active_object
    print("FIT", result, morph.name, len(morph.data.vertices),
          morph["neural_morph_self_intersections"], flush=True)
    assert result == {'FINISHED'} and morph.name == "Suzanne Morph"
print("OK", bpy.app.version_string, flush=True)
"""


def requirements(version):
    """The bpy (and numpy) pins of one version's test venv, without the shared base."""
    name = "requirements.txt" if version == DEFAULT_BLENDER else f"requirements-blender-{version}.txt"
    lines = (ROOT / name).read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines
            if re.match(r"^(bpy|numpy)\b", ln.strip())]


def bare_venv(version):
    """.venv-bare-<version> with only that version's bpy; created on first use."""
    venv = ROOT / f".venv-bare-{version}"
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", *requirements(version)], check=True)
        (venv / ".ready").touch()
    return python


def check(zip_path, version):
    python = bare_venv(version)
    user = tempfile.mkdtemp(prefix=f"neural_morph_install_{version}_")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([str(python), "-c", textwrap.dedent(CHECK), str(zip_path), user],
                              capture_output=True, text=True, timeout=1800, cwd=str(ROOT))
    finally:
        shutil.rmtree(user, ignore_errors=True)  # the unpacked wheels: about a gigabyte
    seconds = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines()
             if ln.split(" ", 1)[0] in ("INSTALLED", "TORCH", "FIT", "OK")]
    ok = proc.returncode == 0 and any(ln.startswith("OK") for ln in lines)
    return ok, seconds, lines, proc.stdout[-2000:] + proc.stderr[-3000:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=pathlib.Path)
    parser.add_argument("--blender", nargs="+", default=["4.2", "4.5", "5.0"])
    args = parser.parse_args(argv)
    if not args.zip.is_file():
        sys.exit(f"{args.zip} does not exist: run `make extension` first")
    failed = []
    for version in args.blender:
        ok, seconds, lines, tail = check(args.zip.resolve(), version)
        print(f"== Blender {version}: {'installed, enabled and fitted' if ok else 'FAILED'} "
              f"in {seconds:.0f} s", flush=True)
        for ln in lines:
            print("   " + ln)
        if not ok:
            print(tail)
            failed.append(version)
    if failed:
        print(f"check_install: failed on Blender {' '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
