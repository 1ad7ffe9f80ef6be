"""The run's event bus: what a listener subscribes to (pure unit tests)."""

from __future__ import annotations

from typing import Any

import pytest

from featbench.events import LevelStarted, RunEvents


class Counting:
    def __init__(self) -> None:
        self.started: list[Any] = []
        self.warnings: list[str] = []

    def on_level_start(self, ev: LevelStarted) -> None:
        self.started.append(ev)

    def on_warning(self, text: str) -> None:
        self.warnings.append(text)


def test_a_listener_gets_the_events_it_has_methods_for() -> None:
    ev, lis = RunEvents(), Counting()
    ev.listen(lis)
    ev.level_start.fire(LevelStarted(0, 50.0, 10, 0))
    ev.warning.fire("w")
    assert [e.level for e in lis.started] == [50.0] and lis.warnings == ["w"]


def test_a_method_naming_no_event_is_refused() -> None:
    class OldNames(Counting):
        def on_ratio_start(self, ev: Any) -> None:  # renamed to on_level_start: never called
            pass

    with pytest.raises(TypeError, match="on_ratio_start: no such run event"):
        RunEvents().listen(OldNames())
