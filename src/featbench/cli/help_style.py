"""Help text people can read: `--json` instead of `--json <bool>`, `RUN_DIR` instead of
`{RUN_DIR}`, `INTEGER`/`TEXT`/`PATH` instead of `<int>`/`<str>`/`<path>`, choices as
`uniform|poisson`.

Typer 0.2x draws type labels as `<type>` and required arguments as `{NAME}` in the usage
line; it has no setting for either, so `install()` wraps the two methods that draw them
(tests/test_cli_conventions.py checks the result, so an upgrade that moves them fails loudly).
"""

from __future__ import annotations

from typing import Any

from typer import core

_NAMES = {
    "int": "INTEGER",
    "float": "FLOAT",
    "str": "TEXT",
    "path": "PATH",
    "Path": "PATH",
    "int range": "INTEGER",
    "float range": "FLOAT",
}


def readable(label: str | None) -> str | None:
    """`<list[str]>` -> `TEXT`, `<float range>` -> `FLOAT`, `<a|b>` -> `a|b`, `<bool>` -> None."""
    if label is None:
        return None
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    many = inner.startswith("list[") and inner.endswith("]")
    if many:
        inner = inner[5:-1]
    if inner == "bool":
        return None
    return _NAMES.get(inner, inner) + ("..." if many else "")


def _display_type_rich(self: Any, ctx: Any) -> str | None:
    if self.metavar is not None:
        return self.metavar
    if getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None
    return readable(self.display_type(ctx))


def _argument_type(self: Any, ctx: Any) -> str | None:
    # an argument's name column already shows its metavar: the type column says the type
    return readable(self.display_type(ctx))


def _usage_display_name(self: Any) -> str:
    name = self.display_name_raw
    if not self.required:
        name = f"[{name}]"
    if self.nargs != 1 and not name.endswith(("...", "…")):
        name += "..."
    return name


def install() -> None:
    core.TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = _usage_display_name  # type: ignore[method-assign]
