"""The admin script as the tests drive it: ``Script`` runs one command on one database and checks
its answer (a documented exit code; on failure one ``error CODE: message`` line and nothing
written); ``leaf_commands`` lists every command it has (tests/test_isolation.py uses it too).
"""

from __future__ import annotations

import re

import click
from click.testing import CliRunner, Result

from lifecycle.cli import ExitCode
from tests.hostile.world import Arena
from tests.test_cli import ADMIN_SCRIPT

EXIT_CODES_OF_FAILURES = {2, 3, 4, 5, 6}
"""Documented exit codes a refused command may end with (7, unavailable, would be the database's
fault, 1 a bug)."""
REPORTS = {0, 8, getattr(ExitCode, "AUDIT_PROBLEMS", 0)}
"""Done, or done with a report of what failed (8: a batch's results; an audit's problems)."""
ERROR_LINE = re.compile(r"error (MSS\.\d{8}|LIFECYCLE\.[A-Z_]+): [^\n]*\n")


class Script:
    """The admin script on one database, with a world seeded through the library."""

    def __init__(self, url: str, arena: Arena) -> None:
        self.url = url
        self.arena = arena

    def __repr__(self) -> str:
        return f"Script({self.arena!r})"

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(ADMIN_SCRIPT, ["--db", self.url, *args], catch_exceptions=False)

    def run(self, *args: str) -> Result:
        """Run a command: a documented exit code; on failure nothing on stdout, one error line on
        stderr (after the progress bar, when one was asked for) and nothing written."""
        before = self.arena.before()
        result = self(*args)
        assert "Traceback" not in result.stderr
        if result.exit_code in REPORTS:
            self.arena.after(before, refused=None)
            return result
        assert result.exit_code in EXIT_CODES_OF_FAILURES, f"exit {result.exit_code}: {result.stderr!r}"
        assert result.stdout == ""
        error = result.stderr.rsplit("\x1b[?25h", 1)[-1] if "--progress" in args else result.stderr
        assert ERROR_LINE.fullmatch(error), f"not one error line: {result.stderr!r}"
        self.arena.after(before, refused=result.stderr)
        return result


def leaf_commands(
    group: click.Group = ADMIN_SCRIPT, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], click.Command]:
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found |= leaf_commands(command, (*path, name))
        else:
            found[(*path, name)] = command
    return found
