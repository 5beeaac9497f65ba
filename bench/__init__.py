"""The benchmark, run from the repository root as modules: `python -m bench.bench`,
`python -m bench.onto`, `python -m bench.fit_profile`, ... (README, "Benchmark")."""
