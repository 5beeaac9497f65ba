"""Per-platform extension zips that bundle their dependency wheels.

    python -m tools.build.wheels                                  # linux-x64 (works offline here)
    python -m tools.build.wheels --platform windows-x64 macos-arm64  # needs the internet

Blender's extension builder wants the wheels listed in the manifest. The committed
manifest lists none (validate accepts missing wheel files that build then rejects), so
this stages a copy of the source with `wheels` and `platforms` written in, then runs
`blender_ext.py build --split-platforms` on it. numpy is never bundled: Blender ships it.
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys

from tools.build.extension import ROOT, run_tool
from tools.build.winpaths import shorten_wheel

REQUIREMENTS = ["torch==2.13.0", "torchdiffeq==0.2.5", "scipy==1.15.3"]
# Blender platform -> pip --platform tags (CPython 3.11, the Python of Blender 4.2-4.5).
PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64", "macosx_12_0_arm64", "macosx_13_0_arm64", "macosx_14_0_arm64"],
}
# Where the CPU build of torch lives for platforms whose PyPI wheel is not CPU-only.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
NEVER_BUNDLE = re.compile(r"^numpy-", re.IGNORECASE)


def download(platform, dest):
    """Download the wheels of REQUIREMENTS (and their dependencies) for one platform."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
           "--python-version", "3.11", "--implementation", "cp", "--dest", str(dest)]
    for tag in PLATFORMS[platform]:
        cmd += ["--platform", tag]
    reqs = list(REQUIREMENTS)
    if platform == "linux-x64":
        reqs[0] = "torch==2.13.0+cpu"  # the CPU wheel; on this machine it lies on local disk
    else:
        cmd += ["--extra-index-url", TORCH_CPU_INDEX]
    subprocess.run(cmd + reqs, check=True)
    for wheel in dest.glob("*.whl"):
        if NEVER_BUNDLE.match(wheel.name):
            wheel.unlink()
    return sorted(dest.glob("*.whl"))


def stage(platform_wheels, stage_dir):
    """Copy the source to stage_dir with wheels/ and a manifest listing them."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    ignore = shutil.ignore_patterns(".git", ".venv", ".venv-*", "out", "dist", "build", "__pycache__",
                                    "*.zip", ".pytest_cache")
    shutil.copytree(ROOT, stage_dir, ignore=ignore)
    wheel_dir = stage_dir / "wheels"
    wheel_dir.mkdir()
    names = []
    for platform, wheels in platform_wheels.items():
        for wheel in wheels:
            # license files too deep for Windows' 260-character paths get short names
            wheel = shorten_wheel(wheel, stage_dir.parent / "short" / platform)
            shutil.copy2(wheel, wheel_dir / wheel.name)
            names.append(f"./wheels/{wheel.name}")
    manifest = (stage_dir / "blender_manifest.toml").read_text()
    listing = "".join(f'  "{n}",\n' for n in sorted(set(names)))
    platforms = ", ".join(f'"{p}"' for p in platform_wheels)
    extra = f'platforms = [{platforms}]\nwheels = [\n{listing}]\n'
    manifest = manifest.replace('license = ', extra + '\nlicense = ', 1)
    (stage_dir / "blender_manifest.toml").write_text(manifest)
    return stage_dir


def build_with_wheels(out_dir, platforms=("linux-x64",)):
    """Download, stage and build; returns the per-platform zip paths."""
    out_dir = pathlib.Path(out_dir)
    work = ROOT / "build"
    platform_wheels = {p: download(p, work / "wheels" / p) for p in platforms}
    source = stage(platform_wheels, work / "stage")
    run_tool("validate", source)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("*.zip"))
    run_tool("build", "--split-platforms", "--source-dir", source, "--output-dir", out_dir)
    return sorted(set(out_dir.glob("*.zip")) - before) or sorted(out_dir.glob("*.zip"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", nargs="+", default=["linux-x64"], choices=sorted(PLATFORMS))
    parser.add_argument("--out", default=str(ROOT / "dist"))
    args = parser.parse_args()
    for z in build_with_wheels(args.out, args.platform):
        print(f"{z}  {z.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
