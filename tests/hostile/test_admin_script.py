"""The admin script: every command but those in ``NOT_FUZZED`` (each with its reason) answers
hostile arguments with an exit code from its documented table and, on failure, exactly one
``error CODE: message`` line on stderr, no traceback and nothing written; input no shell would
type is refused (exit 2) in one line; text given on the command line comes back exactly through
``--json``, or is refused naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection

import click
import pytest
from click.testing import Result
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from lifecycle.actors import Tenant
from lifecycle.definition import AssetType
from lifecycle.inputs import NewAsset, NewFile
from tests.conftest import MD5
from tests.hostile.drawing import HOSTILE, MISSING, Pick, hostile_text, safe_text
from tests.hostile.rules import RULES, creation_problems
from tests.hostile.script import Script, leaf_commands
from tests.hostile.world import World

NOT_FUZZED = {
    ("scheduler", "run"): "runs until SIGTERM: tests/test_cli.py runs it in a real process",
    ("diagrams",): "writes files wherever --out points: no place for fuzzed paths",
    ("serve",): "serves until SIGTERM: tests/server/test_serve_command.py runs it in a real process",
}
FUZZED = sorted(set(leaf_commands()) - set(NOT_FUZZED))
JSON_LINES = {("events", "tail")}
"""Commands whose ``--json`` is a JSON document per line, and none when there is nothing to say."""
OPTIONS_NOT_FUZZED = {
    ("events", "tail"): {"follow": "runs until Ctrl-C: tests/test_cli.py follows, then sends one"},
}
TIME_TEXTS = (
    "2026-03-01T09:00:00Z", "2026-03-01T09:00:00", "2026-03-01T09:00:00+08:00", "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "now", "",
    "2026-03-01T09:00:00.999999999Z", "+002026-03-01", "2999-01-01T00:00:00Z",
)  # fmt: skip
JSON_TEXTS = (
    "{}", '{"k": "v"}', '{"k": "\\u0000"}', '{"k": "\\ud800"}', '{"\\u202e": 1}', "[]", "NaN", '{"a": NaN}',
    '{"a": 1e999}', "[" * 5000 + "]" * 5000, '{"a": ' + "[" * 40 + "]" * 40 + "}", "{", '{"a": 1, "a": 2}',
    '{"big": ' + "9" * 5000 + "}",
)  # fmt: skip
NUMBER_TEXTS = (
    "1",
    "0",
    "-1",
    "1024",
    "1_000",
    " 7 ",
    "\uff11\uff12",
    "99999999999999999999999",
    "1e3",
    "0x10",
)


def _cli_value(pick: Pick, param: click.Parameter, kind: click.ParamType, world: World) -> str:
    """A value for one parameter: one that makes sense for it, or (when picked) hostile text."""
    name = param.name or ""
    first = world.asset_ids[0]
    by_name = {
        "tenant": ["owner", "intruder", "owne_", "OWNER"],
        "app_user": ["owner-user", "u1"],
        "operator": ["ops-alice"],
        "asset_id": [*world.asset_ids, MISSING, first.upper(), first.replace("-", "_")],
        "asset_ids": [*world.asset_ids, MISSING, first.upper(), first.replace("-", "_")],
        "application_id": [world.application, world.their_application, MISSING],
        "file_id": [*world.file_ids[:4], MISSING],
        "project_id": ["owner", "intruder", "owne_", "%"],
    }
    by_kind = {"TIME": list(TIME_TEXTS), "JSON": list(JSON_TEXTS), "filename": ["-", "/nonexistent/ids.txt"]}
    sensible = by_name.get(name) or by_kind.get(kind.name)
    if sensible is None and isinstance(kind, click.Choice):
        sensible = [str(c) for c in kind.choices] + [str(c).upper() for c in kind.choices][:2]
    elif sensible is None and isinstance(kind, click.types.IntParamType):
        sensible = list(NUMBER_TEXTS)
    elif sensible is None:
        sensible = ["x", "male001.bin", MD5, "OLjCwQk93Q/Dg6nZrJQFFQ==", "retry-1"]
    value: str = pick(name, st.sampled_from(sensible), hostile_text)
    return value


def _cli_arguments(
    data: st.DataObject, command: click.Command, world: World, skipped: Collection[str] = ()
) -> list[str]:
    """Every parameter of the command but the ``skipped`` ones, from its click definition: options
    present or not (flags, repeated ones, several values), arguments after ``--`` so that they are
    taken as given."""
    params = [param for param in command.params if param.name not in skipped]
    pick = Pick.of(data, [param.name or "" for param in params])
    options: list[str] = []
    arguments: list[str] = []
    for param in params:
        kinds = (
            list(param.type.types)
            if isinstance(param.type, click.Tuple)
            else [param.type] * max(param.nargs, 1)
        )
        if isinstance(param, click.Argument):
            count = (
                data.draw(st.integers(0, 3), label=f"{param.name} count")
                if param.nargs == -1
                else param.nargs
            )
            arguments += [_cli_value(pick, param, kinds[0], world) for _ in range(count)]
            continue
        assert isinstance(param, click.Option)
        times = [0, 1, 2] if param.multiple else [0, 1]
        wanted = data.draw(
            st.sampled_from(times[1:2] if param.required and param.name not in pick.hostile else times)
        )
        for _ in range(wanted):
            if param.is_flag:
                options.append(
                    data.draw(st.sampled_from([*param.opts, *param.secondary_opts]), label=param.name)
                )
            elif param.nargs == 1:
                options.append(f"{param.opts[0]}={_cli_value(pick, param, kinds[0], world)}")
            else:
                options += [param.opts[0], *(_cli_value(pick, param, kind, world) for kind in kinds)]
    return [*options, "--", *arguments]


def test_every_command_of_the_admin_script_is_fuzzed_or_says_why_not() -> None:
    commands = leaf_commands()
    assert set(NOT_FUZZED) <= set(commands)
    assert ("show",) in FUZZED and ("application", "apply") in FUZZED
    assert len(FUZZED) + len(NOT_FUZZED) == len(commands)
    for path, options in OPTIONS_NOT_FUZZED.items():
        assert set(options) <= {param.name for param in commands[path].params}, path


@settings(HOSTILE, max_examples=200)
@given(data=st.data())
def test_every_command_answers_hostile_arguments_with_a_documented_exit_code_and_one_line(
    script: Script, data: st.DataObject
) -> None:
    world = script.arena.world()
    path = data.draw(st.sampled_from(FUZZED), label="command")
    args = _cli_arguments(data, leaf_commands()[path], world, OPTIONS_NOT_FUZZED.get(path, {}))
    result = script.run(*path, *args)
    if currently_in_test_context():
        event(f"exit {result.exit_code}")
    if result.exit_code == 0 and "--json" in args and path in JSON_LINES:
        for line in result.stdout.splitlines():
            json.loads(line)
    elif result.exit_code == 0 and "--json" in args:
        json.loads(result.stdout)  # one JSON document
    if result.exit_code == 0 and "--json" not in args:
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stdout), "a raw control character"


CREATE = ("create", "--tenant=owner", "--name=x", "--type=VIDEO", "--main-file", "x.mp4", "1", MD5)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([*CREATE, "--extra-meta", "[" * 5000 + "]" * 5000], id="JSON deeper than Python reads"),
        pytest.param([*CREATE, "--extra-meta", '{"a": ' + "[" * 40 + "]" * 40 + "}"], id="JSON 41 levels"),
        pytest.param([*CREATE, "--extra-meta", '{"a": "\\u0000"}'], id="JSON NUL"),
        pytest.param([*CREATE, "--extra-meta", '{"a": "' + "x" * 65536 + '"}'], id="JSON past 64 KiB"),
        pytest.param([*CREATE, "--extra-meta", '{"\\ud800": 1}'], id="JSON lone surrogate"),
        pytest.param([*CREATE, "--name=bytes \udcff not UTF-8"], id="argv bytes not UTF-8"),
        pytest.param([*CREATE, "--tag=\u202egpj.exe"], id="bidi override tag"),
        pytest.param(["batch", "DELETE", "--tenant=owner", "--ids-from=ids\x00.txt"], id="NUL in a path"),
        pytest.param(["batch", "DELETE", "--tenant=owner", "--", MISSING, "\udcff"], id="batch id not UTF-8"),
        pytest.param(["show", "--tenant=owner", "--", "\udcff"], id="id not UTF-8"),
        pytest.param(["history", "--operator=ops", "--", f"{MISSING}\x00"], id="NUL in an id"),
        pytest.param(["application", "show", "--tenant=owner", "--", "%"], id="wildcard application id"),
        pytest.param(["sweep", "--as-of=0001-01-01T00:00:00Z"], id="sweep as of year 1"),
        pytest.param(["sweep", "--as-of=1969-12-31T23:59:59Z"], id="sweep as of 1969"),
        pytest.param(["due", "--as-of=0001-01-01T00:00:00+23:59"], id="due before year 1 in UTC"),
        pytest.param(["list", "--operator=ops", "--project=%"], id="wildcard project"),
        pytest.param(["tenant", "freeze", "--operator=op\x1b[2J", "--", "owner"], id="escape in an operator"),
    ],
)
def test_the_admin_script_refuses_input_no_shell_would_type_in_one_line(
    script: Script, args: list[str]
) -> None:
    result = script.run(*args)
    assert result.exit_code == 2, result.stderr
    assert "\x1b" not in result.stderr and "\x00" not in result.stderr


@settings(HOSTILE, max_examples=60)
@given(data=st.data())
def test_the_admin_script_stores_text_exactly_or_refuses_it_in_one_line(
    script: Script, data: st.DataObject
) -> None:
    """--json gives back what was given, or the command is refused naming the field (exit 2)."""
    pick = Pick.of(data, ["asset_name", "asset_description", "tags", "file_name", "reason", "request_id"])
    name = pick("asset_name", safe_text, hostile_text)
    description = pick("asset_description", safe_text, hostile_text)
    tags = pick("tags", st.lists(safe_text, max_size=2), st.lists(hostile_text, min_size=1, max_size=2))
    file_name = pick("file_name", safe_text.map(lambda t: t + ".bin"), hostile_text)
    reason = pick("reason", safe_text, hostile_text)
    request_id = pick("request_id", safe_text, hostile_text)
    created = script.run(
        "create", "--tenant=owner", f"--name={name}", "--type=HUMAN_MODEL", f"--description={description}",
        *(f"--tag={tag}" for tag in tags), "--json", "--main-file", file_name, "31032142", MD5,
    )  # fmt: skip
    new = NewAsset(name, AssetType.HUMAN_MODEL, [NewFile(file_name, 31032142, MD5)], description, tags)
    problems = creation_problems(Tenant("owner"), new, None)
    if problems:
        assert _refused_field(created) in problems, created.stderr
        return
    assert created.exit_code == 0, created.stderr
    details = json.loads(created.stdout)
    assert (details["asset_name"], details["asset_description"], details["tags"]) == (name, description, tags)
    assert details["files"][0]["file_name"] == file_name
    asset_id = details["asset_id"]
    shown = script.run("show", "--tenant=owner", "--json", "--", asset_id)
    assert json.loads(shown.stdout) == details
    view = script.run("show", "--tenant=owner", "--", asset_id).stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", view), "a raw control character on the terminal"
    deleted = script.run(
        "delete",
        "--tenant=owner",
        f"--reason={reason}",
        f"--request-id={request_id}",
        "--json",
        "--",
        asset_id,
    )
    move_problems = {n for n, v in (("reason", reason), ("request_id", request_id)) if RULES[n].refuses(v)}
    if move_problems:
        assert _refused_field(deleted) in move_problems, deleted.stderr
        return
    assert deleted.exit_code == 0, deleted.stderr
    entries = json.loads(script.run("history", "--operator=ops", "--json", "--", asset_id).stdout)["entries"]
    assert (entries[-1]["reason"], entries[-1]["request_id"]) == (reason, request_id)


def _refused_field(result: Result) -> str:
    """The field an ``error MSS.00000003: invalid parameter FIELD: …`` line names."""
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.stderr!r}"
    found = re.match(r"error MSS\.00000003: invalid parameter ([^:]+):", result.stderr)
    assert found, result.stderr
    return found.group(1)
