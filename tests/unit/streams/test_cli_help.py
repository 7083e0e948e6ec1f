from __future__ import annotations

import pytest

from driftline.streams.cli import main

COMMANDS = [[], ["kafka", "start"], ["kafka", "stop"], ["models", "demo"], ["models", "register"],
            ["models", "list"], ["models", "show"], ["models", "promote"], ["worker"], ["produce"],
            ["topics"], ["tail"], ["settings"], ["bench"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "driftline")
def test_every_command_explains_itself(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: driftline" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "commands" in capsys.readouterr().out
