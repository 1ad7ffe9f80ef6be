"""The command line people expect (pgbench, locust, k6): --version, -q/-v, $FEATBENCH_TARGET,
choices shown and completed, readable help, libpq strings, errors printed whole, a fast --help."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

import featbench
from featbench.cli import options as o
from featbench.target import libpq_pairs, parse_target, redact
from run_helpers import run_cli as cli

# (not pydantic: typer 0.2x itself coerces values with it)
HEAVY = ("pyarrow", "plotly", "numpy", "psycopg", "pandas", "boto3", "redis", "hdrh", "kaleido")
COMMANDS = [
    [],
    ["run"],
    ["load"],
    ["verify"],
    ["show"],
    ["get"],
    ["compare"],
    ["report"],
    ["cost"],
    ["export"],
    ["demo"],
    ["generate"],
    ["spec", "show"],
    ["spec", "export"],
    ["embedded", "stop"],
]


def subprocess_cli(
    args: list[str], *, block: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """featbench in a fresh interpreter; `block` makes those packages unimportable, as on a
    base install without the extra."""
    code = (
        "import sys\n"
        f"for m in {list(block)!r}: sys.modules[m] = None\n"
        "from featbench.cli import main\n"
        f"main({args!r})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"featbench {featbench.__version__}"


def test_help_imports_no_heavy_module() -> None:
    """`featbench --help` and a command's help load typer and featbench.cli, nothing heavy."""
    probe = (
        "import sys, time, json\n"
        "t = time.perf_counter()\n"
        "from featbench.cli import main\n"
        "for args in (['--help'], ['run', '--help'], ['report', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    modules = json.loads(r.stderr.strip().splitlines()[-1])
    heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert heavy == [], heavy
    ours = [m for m in modules if m.startswith("featbench.")]
    assert all(m.startswith(("featbench.cli", "featbench.errors")) for m in ours), ours


def test_help_time_is_reported() -> None:
    """Wall time of `featbench --help` in a fresh interpreter (printed; the module count
    above is the assertion, since two shared cores make wall time noisy)."""
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "featbench", "--help"], capture_output=True, text=True, timeout=60
    )
    elapsed = time.perf_counter() - t
    assert r.returncode == 0 and "Usage" in r.stdout
    print(f"featbench --help: {elapsed:.3f} s")


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "featbench")
def test_help_is_readable(cmd: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli([*cmd, "--help"], capsys)
    assert code == 0
    for ugly in ("<bool>", "<list[", "<str>", "<int>", "<float", "<path>", "{RUN", "{ENTITY"):
        assert ugly not in out, (ugly, out)


def test_choices_are_shown_completed_and_checked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # at 80 columns rich wraps a long choice list mid-word
    _, out, _ = cli(["run", "--help"], capsys)
    flat = " ".join(out.split())
    assert "uniform|poisson" in flat
    assert "cold-first|given" in flat
    assert "hotcold|zipfian|" in flat
    code, _, err = cli(["run", "-t", "embedded", "--arrival", "gamma"], capsys)
    assert code == 2 and "'gamma' is not one of 'uniform', 'poisson'" in " ".join(err.split())
    code, _, err = cli(["load", "-t", "embedded", "--copy-format", "xml"], capsys)
    assert code == 2 and "--copy-format" in err


def test_cli_choices_agree_with_the_library() -> None:
    from typing import get_args

    from featbench.backends.dynamodb import DynamoDBBackend
    from featbench.backends.postgres import PostgresBackend
    from featbench.backends.redis import RedisBackend
    from featbench.cli import demo_cmd
    from featbench.demo import DYNAMODB_REQUESTS, SCALE_ONE, SCALE_WITH_DYNAMODB
    from featbench.runner.schedule import ARRIVALS
    from featbench.workload.distributions import DISTRIBUTIONS
    from featbench.workload.plan import RatioOrder

    assert o.ARRIVALS == ARRIVALS
    assert o.DISTRIBUTIONS == DISTRIBUTIONS
    assert o.RATIO_ORDERS == get_args(RatioOrder)
    assert o.STORE_STRATEGIES == {
        "postgres": tuple(PostgresBackend.strategies),
        "redis": tuple(RedisBackend.strategies),
        "dynamodb": tuple(DynamoDBBackend.strategies),
    }
    assert (demo_cmd.SCALE_ONE, demo_cmd.SCALE_WITH_DYNAMODB, demo_cmd.DYNAMODB_REQUESTS) == (
        SCALE_ONE,
        SCALE_WITH_DYNAMODB,
        DYNAMODB_REQUESTS,
    )


def test_strategy_completion() -> None:
    assert o.strategy_completion("")[:2] == ["serial", "pipeline"]
    assert "union" in o.strategy_completion("u")
    assert o.strategy_completion("serial,pi") == ["serial,pipeline"]
    assert o.strategy_completion("redis=") == ["redis=pipeline", "redis=serial"]
    assert o.strategy_completion("postgres=union,dynamodb=b") == ["postgres=union,dynamodb=batch"]
    assert o.strategy_completion("zzz") == []


def test_target_from_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(o.TARGET_ENV, "postgresql://postgres@127.0.0.1:1/fromenv")
    code, _, err = cli(["verify"], capsys)
    assert code == 2 and "127.0.0.1:1/fromenv" in err
    # run: the same variable, one target (a libpq string holds spaces)
    monkeypatch.setenv(o.TARGET_ENV, "host=127.0.0.1 port=1 dbname=fromenv user=postgres")
    code, _, err = cli(["run", "--requests", "5", "--warmup", "0"], capsys)
    assert code == 2 and "127.0.0.1:1/fromenv" in err, err
    # --target wins over the variable
    code, _, err = cli(["verify", "-t", "postgresql://postgres@127.0.0.1:1/given"], capsys)
    assert code == 2 and "/given" in err and "fromenv" not in err
    monkeypatch.delenv(o.TARGET_ENV)
    code, _, err = cli(["run"], capsys)
    assert code == 2 and o.TARGET_ENV in err


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("host=db.example.com port=6543 dbname=feat user=me", "postgresql://me@db.example.com:6543/feat"),
        ("dbname=test", "postgresql:///test"),
        ("host = h  dbname=d sslmode=require", "postgresql://h/d?sslmode=require"),
        ("host=/var/run/postgresql dbname=x", "postgresql:///x?host=%2Fvar%2Frun%2Fpostgresql"),
    ],
)  # fmt: skip
def test_libpq_key_value_strings(text: str, url: str) -> None:
    t = parse_target(text)
    assert t.kind == "postgres" and t.url == url


def test_libpq_quoting_and_secrets() -> None:
    assert libpq_pairs(r"password='it\'s a\\b' user=me") == [
        ("password", "it's a\\b"),
        ("user", "me"),
    ]
    t = parse_target("host=h dbname=d user=me password='S3cr et'")
    assert "S3cr" not in t.redacted and "S3cr" not in repr(t)
    assert psycopg.conninfo.conninfo_to_dict(t.url)["password"] == "S3cr et"
    assert parse_target("postgres://u@h/db").kind == "postgres"
    assert redact("postgresql:///d?password=x") == "postgresql:///d?password=%2A%2A%2A"
    for bad in ("host=h dbname", "host='h"):
        with pytest.raises(featbench.TargetError):
            parse_target(bad)


def test_libpq_string_reaches_the_server(pg_dsn: str) -> None:
    """The URL made from a key=value string connects where the string says."""
    d = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    text = " ".join(f"{k}='{v}'" for k, v in d.items() if v)
    with psycopg.connect(parse_target(text).url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == d["dbname"]


@pytest.mark.parametrize(
    ("block", "args", "literal"),
    [
        (("redis",), ["load", "-t", "redis://127.0.0.1:1/0"], "pip install 'featbench[redis]'"),
        (
            ("boto3",),
            ["verify", "-t", "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:1"],
            "pip install 'featbench[dynamodb]'",
        ),
    ],
    ids=["redis", "dynamodb"],
)
def test_missing_extra_message_is_printed_whole(
    block: tuple[str, ...], args: list[str], literal: str
) -> None:
    r = subprocess_cli(args, block=block)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert literal in lines[0], lines[0]


def test_missing_kaleido_message_is_printed_whole(tmp_path: Path) -> None:
    from runfactory import make_run

    d = make_run(tmp_path, ratios=(100, 0), requests=40)
    r = subprocess_cli(["report", str(d), "--png", str(tmp_path / "png")], block=("kaleido",))
    assert r.returncode == 2, r.stderr
    assert "pip install 'featbench[report]'" in r.stderr.strip().splitlines()[-1]


def test_error_text_with_brackets_survives(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["spec", "show", "--spec", "/nonexistent/[bold]x[/bold].toml"], capsys)
    assert code == 2 and "[bold]x[/bold].toml" in err


def test_quiet_and_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from featbench.progress import console

    monkeypatch.setattr(console, "quiet", False)
    code, _, err = cli(["generate", "--scale", "0.0005", "--out", str(tmp_path / "a")], capsys)
    assert code == 0 and "wrote" in err
    code, _, err = cli(
        ["-q", "generate", "--scale", "0.0005", "--out", str(tmp_path / "b")], capsys
    )
    assert code == 0 and err.strip() == ""
    assert (tmp_path / "b" / "manifest.json").exists()
    # an error is shown even when quiet
    code, _, err = cli(["-q", "verify", "-t", "postgresql://postgres@127.0.0.1:1/x"], capsys)
    assert code == 2 and err.startswith("error: ")
    monkeypatch.setattr(console, "quiet", False)
    lg = logging.getLogger("featbench")
    monkeypatch.setattr(lg, "level", logging.NOTSET)
    cli(["-v", "spec", "export", "-o", str(tmp_path / "s.toml")], capsys)
    assert lg.level == logging.INFO
    cli(["-vv", "spec", "export", "-o", str(tmp_path / "s.toml")], capsys)
    assert lg.level == logging.DEBUG


@pytest.mark.parametrize(
    ("words", "want"),
    [
        ("featbench run --arrival ", ["uniform", "poisson"]),
        ("featbench run --distribution z", ["zipfian"]),
        ("featbench run --strategy redis=", ["redis=pipeline", "redis=serial"]),
        ("featbench export x --format o", ["openmetrics"]),
    ],
)
def test_shell_completion_offers_the_choices(words: str, want: list[str]) -> None:
    """What bash gets from `featbench --install-completion`'s hook for a partial line."""
    import os

    env = {
        **os.environ,
        "_FEATBENCH_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    r = subprocess.run(
        [sys.executable, "-m", "featbench"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.stdout.split() == want, (r.stdout, r.stderr)
