"""The time rules: checked when the definition is built, their delays named in ``Settings``, their
states derived from the table, documented, and their SQL clause in step with its Python mirror."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from lifecycle.actors import Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    DEFINITION,
    LIVE_STATES,
    TIME_RULES,
    TRANSITIONS,
    AssetState,
    Delay,
    Event,
    FailType,
    PlannedOperation,
    Role,
    TimeBasis,
    TimeRule,
    build_definition,
)
from lifecycle.docs import render_into
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidDefinition
from lifecycle.explore import Step, role_for, situations
from lifecycle.inputs import AutoOperation
from lifecycle.moves import AssetRow
from lifecycle.settings import Settings
from lifecycle.store.models import assets
from lifecycle.sweeps import Sweeper
from tests.conftest import ACTORS, START, new_asset

pytestmark = pytest.mark.facades

RULES = {rule.name: rule for rule in TIME_RULES}
MICRO = timedelta(microseconds=1)
STEP = timedelta(minutes=41, seconds=7, microseconds=3)
"""Time between two moves of one asset (odd, so that no two deadlines coincide by accident)."""
BETWEEN_ASSETS = timedelta(minutes=13, microseconds=11)
DOCS = Path(__file__).parents[1] / "docs" / "lifecycle.md"


def _without(name: str) -> list[TimeRule]:
    return [rule for rule in TIME_RULES if rule.name != name]


def _refused(problem: str, **options: object) -> None:
    with pytest.raises(InvalidDefinition, match=re.escape(problem)):
        build_definition(**options)


# Checked when built ------------------------------------------------------------------------------


def test_the_shipped_time_rules_are_accepted_and_kept_in_order() -> None:
    assert build_definition().time_rules == TIME_RULES
    assert [rule.name for rule in DEFINITION.time_rules] == [
        "upload_timeout",
        "planned_freeze",
        "planned_delete",
        "recycle_bin_purge",
    ]


def test_two_rules_with_one_name_are_refused() -> None:
    twin = replace(RULES["planned_delete"], name="planned_freeze")
    _refused("time rules named twice: planned_freeze", time_rules=[*TIME_RULES, twin])


def test_a_rule_firing_an_event_the_system_may_not_fire_is_refused() -> None:
    auto_activate = TimeRule("auto_activate", Event.ACTIVATE, TimeBasis.UPLOAD_DEADLINE, "activated by time")
    _refused(
        "time rule auto_activate: the system may not fire 'activate'", time_rules=[*TIME_RULES, auto_activate]
    )


def test_a_rule_whose_event_has_no_transition_is_refused() -> None:
    no_purge_edge = [edge for edge in TRANSITIONS if edge.event is not Event.PURGE]
    _refused("time rule recycle_bin_purge: no transition for 'purge'", transitions=no_purge_edge)


def test_a_time_driven_event_without_a_rule_is_refused() -> None:
    _refused("time-driven events without a time rule: purge", time_rules=_without("recycle_bin_purge"))
    _refused(
        "time-driven events without a time rule: purge, time_out_upload",
        time_rules=[rule for rule in TIME_RULES if rule.plan is not None],
    )


def test_a_plan_goes_with_the_planned_operation_time_and_only_then() -> None:
    plan_on_deadline = replace(RULES["planned_freeze"], basis=TimeBasis.UPLOAD_DEADLINE)
    _refused(
        "time rule planned_freeze: a plan goes with planned_operation_time, and only then",
        time_rules=[*_without("planned_freeze"), plan_on_deadline],
    )
    no_plan_on_plan_time = replace(RULES["planned_delete"], plan=None)
    _refused(
        "time rule planned_delete: a plan goes with planned_operation_time, and only then",
        time_rules=[*_without("planned_delete"), no_plan_on_plan_time],
    )


def test_every_problem_is_named_at_once() -> None:
    bad = TimeRule("auto_activate", Event.ACTIVATE, TimeBasis.PLANNED_OPERATION_TIME, "r")
    with pytest.raises(InvalidDefinition) as refusal:
        build_definition(time_rules=[*_without("upload_timeout"), bad])
    message = str(refusal.value)
    assert "the system may not fire 'activate'" in message
    assert "time rule auto_activate: a plan goes with planned_operation_time" in message
    assert "time-driven events without a time rule: time_out_upload" in message


# Delays are settings -------------------------------------------------------------------------------


def test_every_delay_is_a_duration_of_the_settings() -> None:
    delays = [rule.delay for rule in DEFINITION.time_rules if rule.delay is not None]
    assert delays, "no rule has a delay: nothing checked"
    settings = Settings(upload_window=timedelta(hours=3), recycle_retention=timedelta(days=30))
    assert {delay: settings.duration(delay) for delay in Delay} == {
        Delay.UPLOAD_WINDOW: timedelta(hours=3),
        Delay.RECYCLE_RETENTION: timedelta(days=30),
    }
    assert RULES["recycle_bin_purge"].delay is Delay.RECYCLE_RETENTION


@pytest.mark.parametrize("delay", ["recycle_retention", "no_such_setting", timedelta(days=1)])
def test_a_delay_that_is_not_a_delay_of_the_settings_is_refused_when_the_table_is_built(
    delay: object,
) -> None:
    purge = replace(RULES["recycle_bin_purge"], delay=delay)
    problem = "time rule recycle_bin_purge: its delay must be a Delay"
    with pytest.raises(InvalidDefinition, match=re.escape(problem)):
        build_definition(time_rules=[*_without("recycle_bin_purge"), purge])


# The states a rule looks at ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("upload_timeout", {AssetState.CREATING}),
        ("planned_freeze", {*LIVE_STATES, AssetState.DELETING}),
        ("planned_delete", set(LIVE_STATES)),
        ("recycle_bin_purge", {AssetState.DELETING}),
    ],
)
def test_a_rule_looks_at_the_sources_of_its_event_except_block(name: str, expected: set[AssetState]) -> None:
    rule = RULES[name]
    states = DEFINITION.rule_states(rule)
    sources = {state for edge in TRANSITIONS if edge.event is rule.event for state in edge.sources}
    assert AssetState.BLOCK not in states
    assert states == sources - {AssetState.BLOCK}
    assert states == expected


def test_block_is_left_out_where_the_event_could_fire_from_it() -> None:
    """Freeze and delete leave from BLOCK in the table, yet time never moves a frozen asset."""
    assert AssetState.BLOCK in DEFINITION.sources(Event.FREEZE)
    assert AssetState.BLOCK in DEFINITION.sources(Event.DELETE)
    assert all(AssetState.BLOCK not in DEFINITION.rule_states(rule) for rule in DEFINITION.time_rules)


# Documented ----------------------------------------------------------------------------------------


def test_the_docs_hold_both_generated_blocks_and_they_are_current() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "<!-- BEGIN GENERATED: transition table" in text
    assert "<!-- BEGIN GENERATED: time rules" in text
    assert render_into(text) == text, "docs/lifecycle.md is stale: run python -m lifecycle.docs"
    time_block = text.partition("<!-- BEGIN GENERATED: time rules")[2].partition("<!-- END GENERATED -->")[0]
    for rule in DEFINITION.time_rules:
        assert f"`{rule.name}`" in time_block


# The SQL clause and its Python mirror --------------------------------------------------------------

EXTRA_PATHS: tuple[tuple[bool, bool, tuple[Step, ...]], ...] = (
    # (activate_on_upload, review_required, steps): the clocks that stop and start again.
    (False, False, (Step(Event.FREEZE), Step(Event.UNFREEZE))),
    (False, False, (Step(Event.DELETE), Step(Event.RESTORE))),
    (True, False, (Step(Event.ACCEPT_UPLOAD), Step(Event.FREEZE), Step(Event.DELETE), Step(Event.UNFREEZE))),
    (False, False, (Step(Event.FREEZE, tenant_wide=True), Step(Event.DELETE), Step(Event.UNFREEZE))),
    (False, False, (Step(Event.DELETE), Step(Event.FREEZE), Step(Event.UNFREEZE))),
    (False, True, (Step(Event.SUBMIT_FOR_REVIEW), Step(Event.PASS_REVIEW))),
    (True, True, (Step(Event.SUBMIT_FOR_REVIEW), Step(Event.REJECT_REVIEW), Step(Event.DELETE))),
    (False, False, (Step(Event.CANCEL_UPLOAD),)),
)


def _paths() -> list[tuple[bool, bool, tuple[Step, ...]]]:
    found = [
        (path.facts[0].activate_on_upload, path.facts[0].review_required, path.steps)
        for path in situations().values()
    ]
    return [*found, *EXTRA_PATHS]


def _walk(
    lifecycle: Lifecycle,
    clock: ManualClock,
    number: int,
    path: tuple[bool, bool, tuple[Step, ...]],
    plan: PlannedOperation | None,
) -> str:
    """A new asset of its own tenant, taken along ``path`` with the clock moving between moves."""
    activate, review, steps = path
    owner = Tenant(f"t{number}")
    auto = None if plan is None else AutoOperation(plan, clock.now() + (number % 5 + 1) * STEP - MICRO)
    created = lifecycle.create_asset(
        owner, new_asset(activate_on_upload=activate, review_required=review, auto_operation=auto)
    )
    for step in steps:
        clock.advance(STEP)
        if step.tenant_wide:
            lifecycle.freeze_tenant(ACTORS["platform"], owner.project_id)
            continue
        role = role_for(step.event)
        actor = owner if role is Role.TENANT else ACTORS[role.value]
        fail_type = FailType.MANUAL_REVIEW_REJECT if step.event is Event.REJECT_REVIEW else None
        lifecycle.fire(actor, created.asset_id, step.event, fail_type=fail_type)
    clock.advance(BETWEEN_ASSETS)
    return created.asset_id


def _moments(rows: list[AssetRow], retention: timedelta) -> list[datetime]:
    """Every stored moment a rule counts from (and the purge deadline), a microsecond either side."""
    bases = {
        moment
        for row in rows
        for moment in (
            row.upload_deadline,
            row.planned_operation_time,
            row.retention_started_at,
            None if row.retention_started_at is None else row.retention_started_at + retention,
        )
        if moment is not None
    }
    return sorted({moment + offset for moment in bases for offset in (-MICRO, timedelta(0), MICRO)})


def test_the_due_clause_and_its_python_mirror_agree_on_every_situation(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    paths = _paths()
    plans = [PlannedOperation.BLOCK, PlannedOperation.DELETE]
    asset_ids = [
        _walk(lifecycle, clock, 2 * index + copy, path, None if copy == 0 else plans[index % 2])
        for index, path in enumerate(paths)
        for copy in (0, 1)
    ]
    sweeper = Sweeper(lifecycle.context)
    with lifecycle.database.connect() as connection:
        read = [lifecycle.context.repository.read_row(connection, asset_id) for asset_id in asset_ids]
    rows = [row for row in read if row is not None]
    assert len(rows) == len(asset_ids) == 2 * len(paths)
    assert {row.planned_operation for row in rows} == {None, *plans}
    assert any(row.retention_started_at is not None for row in rows)

    moments = _moments(rows, lifecycle.settings.recycle_retention)
    clock.set(max(moments) + timedelta(days=1))
    latest = clock.now()
    as_ofs = [START - MICRO, *moments, latest, latest.astimezone(timezone(timedelta(hours=5, minutes=30)))]
    assert all(as_of <= clock.now() for as_of in as_ofs)

    matched: dict[tuple[str, datetime], set[str]] = {}
    with lifecycle.database.connect() as connection:
        for as_of in as_ofs:
            for rule in DEFINITION.time_rules:
                query = select(assets.c.asset_id).where(sweeper.due_clause(rule, as_of))
                in_sql = set(connection.execute(query).scalars())
                in_python = {
                    row.asset_id
                    for row in rows
                    if (due := sweeper.due_at(rule, row)) is not None and due <= as_of
                }
                assert in_sql == in_python, (rule.name, as_of.isoformat())
                matched[(rule.name, as_of)] = in_sql

    assert not any(matched[(rule.name, START - MICRO)] for rule in DEFINITION.time_rules)
    at_latest = {rule.name: matched[(rule.name, latest)] for rule in DEFINITION.time_rules}
    assert all(at_latest.values()), {name: len(ids) for name, ids in at_latest.items()}
    assert lifecycle.due_counts(as_of=latest) == {name: len(ids) for name, ids in at_latest.items()}
    # The sets grow as time passes, and the sample moments show them growing.
    for rule in DEFINITION.time_rules:
        sizes = [len(matched[(rule.name, as_of)]) for as_of in as_ofs]
        assert sizes == sorted(sizes), rule.name
        assert len(set(sizes)) > 1, rule.name

    by_id = {row.asset_id: row for row in rows}
    for rule in DEFINITION.time_rules:
        for asset_id in at_latest[rule.name]:
            row = by_id[asset_id]
            assert DEFINITION.resolve(rule.event, row.facts) is not None, (rule.name, row.facts)
            assert not row.facts.is_frozen
