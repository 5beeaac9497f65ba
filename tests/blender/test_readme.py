"""Every Python block of README.md runs as written (issue 9 item 12).

A block meant for another context (a `blender -b` script) is preceded by an explicit
`<!-- readme-test: skip, <reason> -->` line; nothing is skipped silently: the test lists
every block and checks that each one either runs or carries that marker with a reason.
"""
import pathlib
import re

import bpy
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SKIP = re.compile(r"<!-- readme-test: skip, (?P<reason>\S.*\S) -->\s*$")


def python_blocks():
    """(line number, code, skip reason or None) of each ```python block of README.md."""
    lines = (ROOT / "README.md").read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i
            end = lines.index("```", i + 1)
            marker = SKIP.match(lines[start - 1].strip()) if start else None
            blocks.append((start + 1, "\n".join(lines[start + 1:end]) + "\n",
                           marker.group("reason") if marker else None))
            i = end
        i += 1
    return blocks


def test_readme_blocks_are_found_and_every_skip_is_marked_with_a_reason():
    blocks = python_blocks()
    assert len(blocks) >= 2
    runnable = [b for b in blocks if b[2] is None]
    assert runnable, "at least the console example must run"
    for line, code, reason in blocks:
        if reason is not None:
            assert "blender -b" in reason, f"README.md:{line}: a skip must say where it runs"


@pytest.mark.slow
@pytest.mark.parametrize("line,code", [(b[0], b[1]) for b in python_blocks() if b[2] is None])
def test_readme_python_block_runs_as_written(scene, line, code):
    namespace = {"__name__": "__readme__"}
    exec(compile(code, f"README.md:{line}", "exec"), namespace)
    bpy.ops.wm.read_homefile(use_empty=True)
