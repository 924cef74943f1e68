"""Documentation generated from the definition, so the docs cannot drift from the table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lifecycle.definition import DEFINITION, AssetState, Definition, Role, TimeBasis

END = "<!-- END GENERATED -->"


def _begin(name: str) -> str:
    return f"<!-- BEGIN GENERATED: {name} (python -m lifecycle.docs) -->"


def transition_table(definition: Definition = DEFINITION) -> str:
    """The table as Markdown: one row per edge, with its guards, roles and what it remembers."""
    lines = [
        "| event | roles | from | to | when | remembers |",
        "|---|---|---|---|---|---|",
    ]
    for edge in definition.transitions:
        spec = definition.events[edge.event]
        roles = ", ".join(role.value for role in Role if role in spec.roles)
        guards = [*edge.conditions, *(f"not {name}" for name in edge.unless)]
        event = f"`{edge.event.value}`" + (" (time)" if spec.time_driven else "")
        remembers = edge.remembers.value if edge.remembers else ""
        lines.append(
            f"| {event} | {roles} | {_states(edge.sources)} | {edge.dest.value} | {', '.join(guards)} |"
            f" {remembers} |"
        )
    return "\n".join(lines)


def time_rule_table(definition: Definition = DEFINITION) -> str:
    """The time rules as Markdown, in the order a sweep runs them."""
    lines = [
        "| rule | fires | on assets in | not frozen, and | due when | audit reason |",
        "|---|---|---|---|---|---|",
    ]
    for rule in definition.time_rules:
        plan = f"planned operation is {rule.plan.value}" if rule.plan is not None else ""
        due = f"`{rule.basis.value}`" + (f" + `Settings.{rule.delay.value}`" if rule.delay else "") + " ≤ now"
        if rule.basis is TimeBasis.UPLOAD_DEADLINE:
            due += " (the deadline already holds the upload window)"
        lines.append(
            f"| `{rule.name}` | `{rule.event.value}` | {_states(definition.rule_states(rule))} | {plan} |"
            f" {due} | {rule.reason} |"
        )
    return "\n".join(lines)


GENERATED: dict[str, Callable[[Definition], str]] = {
    "transition table": transition_table,
    "time rules": time_rule_table,
}


def render_into(text: str, definition: Definition = DEFINITION) -> str:
    """``text`` with each generated block between its markers replaced by the current content."""
    for name, generate in GENERATED.items():
        begin = _begin(name)
        if begin not in text:
            continue
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(END)
        text = f"{head}{begin}\n{generate(definition)}\n{END}{tail}"
    return text


def _states(states: frozenset[AssetState]) -> str:
    order = list(AssetState)
    return ", ".join(state.value for state in sorted(states, key=order.index))


def main() -> int:
    path = Path("docs/lifecycle.md")
    path.write_text(render_into(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the generated tables into {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
