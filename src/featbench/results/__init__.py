"""Run directories: writing them as a run goes, reading them back, validating, comparing.

Public entry points: `read_run` (results.reader: the one reader of run directories),
`validate_run` (results.validate), `compare_runs` (results.compare), `ResultsWriter`
(results.writer).
"""
