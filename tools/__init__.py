"""Developer tools, run from the repository root as modules (`python -m tools.build.wheels`,
`python -m tools.docs.demo`). Not part of the extension zip (blender_manifest.toml)."""
