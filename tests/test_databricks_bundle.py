"""deploy/databricks/databricks.yml: its jobs are valid Jobs API settings, and every featbench
option they pass exists — so a typo fails here, not on a cluster."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from featbench.cli import _import_commands
from featbench.cli.app import app

yaml = pytest.importorskip("yaml")

BUNDLE = Path(__file__).resolve().parents[1] / "deploy" / "databricks" / "databricks.yml"
VAR = re.compile(r"\$\{var\.([a-z_]+)\}")


def _bundle() -> dict[str, Any]:
    doc = yaml.safe_load(BUNDLE.read_text())
    defaults = {k: str(v["default"]) for k, v in doc["variables"].items()}

    def resolve(x: Any) -> Any:
        if isinstance(x, str):
            missing = [m for m in VAR.findall(x) if m not in defaults]
            assert not missing, f"undefined variable(s) {missing} in {x!r}"
            return VAR.sub(lambda m: defaults[m.group(1)], x)
        if isinstance(x, list):
            return [resolve(v) for v in x]
        if isinstance(x, dict):
            return {k: resolve(v) for k, v in x.items()}
        return x

    return resolve(doc)


def test_the_bundle_has_a_load_and_a_run_job() -> None:
    jobs = _bundle()["resources"]["jobs"]
    assert set(jobs) == {"featbench_load", "featbench_run"}
    for job in jobs.values():
        (task,) = job["tasks"]
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == "featbench" and wheel["entry_point"] == "featbench"
        params = wheel["parameters"]
        assert params[params.index("--engine") + 1] == "spark"
        # the password comes from a secret, never a parameter
        assert not any("password" in str(p).lower() for p in params)
        env = job["job_clusters"][0]["new_cluster"]["spark_env_vars"]
        assert env["PGPASSWORD"].startswith("{{secrets/")


def test_job_definitions_are_jobs_api_settings() -> None:
    jobs_api = pytest.importorskip("databricks.sdk.service.jobs")
    for name, job in _bundle()["resources"]["jobs"].items():
        settings = jobs_api.JobSettings.from_dict(job)
        # from_dict drops what it does not know: a misspelt field makes the round trip differ
        assert _normal(settings.as_dict()) == _normal(job), name
        assert settings.tasks[0].python_wheel_task.entry_point == "featbench"
    # …and the check can fail: a misspelt cluster field does not survive the round trip
    bad = _bundle()["resources"]["jobs"]["featbench_run"]
    bad["job_clusters"][0]["new_cluster"]["num_worker"] = 2
    assert _normal(jobs_api.JobSettings.from_dict(bad).as_dict()) != _normal(bad)


def _normal(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _normal(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_normal(v) for v in x]
    return str(x) if isinstance(x, (int, float, bool)) else x


def test_every_option_a_job_passes_exists() -> None:
    _import_commands()
    group = typer.main.get_command(app)
    for name, job in _bundle()["resources"]["jobs"].items():
        params = job["tasks"][0]["python_wheel_task"]["parameters"]
        cmd = group.commands[params[0]]  # type: ignore[attr-defined]
        known = {o for p in cmd.params for o in p.opts}
        passed = [p for p in params[1:] if str(p).startswith("--")]
        assert set(passed) <= known, (name, sorted(set(passed) - known))
