"""Run directories: writing them as a run goes, reading them back, validating, comparing.

Public entry points: `load_run` (results.load), `validate_run` / `check_run`
(results.validate), `compare_runs` (results.compare), `ResultsWriter` (results.writer).
"""
