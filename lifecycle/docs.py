"""Documentation generated from the definition, so the docs cannot drift from the table."""

from __future__ import annotations

from pathlib import Path

from lifecycle.definition import DEFINITION, AssetState, Definition, Role

BEGIN = "<!-- BEGIN GENERATED: transition table (python -m lifecycle.docs) -->"
END = "<!-- END GENERATED -->"


def transition_table(definition: Definition = DEFINITION) -> str:
    """The table as Markdown: one row per edge, with its guards, roles and what it remembers."""
    order = list(AssetState)
    lines = [
        "| event | roles | from | to | when | remembers |",
        "|---|---|---|---|---|---|",
    ]
    for edge in definition.transitions:
        spec = definition.events[edge.event]
        roles = ", ".join(role.value for role in Role if role in spec.roles)
        sources = ", ".join(s.value for s in sorted(edge.sources, key=order.index))
        guards = [*edge.conditions, *(f"not {name}" for name in edge.unless)]
        event = f"`{edge.event.value}`" + (" (time)" if spec.time_driven else "")
        remembers = edge.remembers.value if edge.remembers else ""
        lines.append(
            f"| {event} | {roles} | {sources} | {edge.dest.value} | {', '.join(guards)} | {remembers} |"
        )
    return "\n".join(lines)


def render_into(text: str, definition: Definition = DEFINITION) -> str:
    """``text`` with the generated block between the markers replaced by the current table."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{transition_table(definition)}\n{END}{tail}"


def main() -> int:
    path = Path("docs/lifecycle.md")
    path.write_text(render_into(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the transition table into {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
