"""The pytest plugin (``lifecycle.testing``), tested the way its users meet it: with ``pytester``.

The plugin is installed with the package (``pytest11`` entry point), so the inner runs load it
exactly as a user's suite does; nothing here passes ``-p lifecycle.testing``. The sample suite
and the failure output come from ``docs/testing.md``, so the page cannot drift from what runs.
"""

from __future__ import annotations

import importlib
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lifecycle.testing
from lifecycle.explore import arrows, conditional_refusals, covering_paths, refused_pairs
from lifecycle.store import schema
from tests.conftest import POSTGRES_URL

pytest_plugins = ["pytester"]

DOCS = (Path(__file__).parent.parent / "docs" / "testing.md").read_text(encoding="utf-8")
FIXTURES = [
    "lifecycle_engine",
    "lifecycle_async_engine",
    "lifecycle_clock",
    "lifecycle_tenant",
    "lifecycle_platform",
    "lifecycle_system",
    "lifecycle_assets",
    "lifecycle_db_url",
]
INNER = (
    *("-p", "no:cacheprovider", "-p", "no:hypothesispytest"),
    *("-o", "asyncio_default_fixture_loop_scope=function"),
)
"""Inner runs: no cache files, no Hypothesis plugin (its end-of-run summary costs a second), and
pytest-asyncio's loop scope chosen (unset, it warns)."""
SAMPLE_PLAIN_TESTS = 4
"""The hand-written tests of the documented ``test_assets.py``; the others are derived."""


def _documented_files() -> dict[str, str]:
    """The Python blocks of docs/testing.md whose first line names a file, joined per file."""
    files: dict[str, list[str]] = {}
    for block in re.findall(r"```python\n(.*?)```", DOCS, flags=re.DOTALL):
        first, _, rest = block.partition("\n")
        named = re.fullmatch(r"# (\w+\.py)", first)
        if named:
            files.setdefault(named[1], []).append(rest)
    return {name: "\n\n".join(parts) for name, parts in files.items()}


def _documented_failure() -> list[str]:
    """The failure output docs/testing.md shows, as fnmatch patterns (any asset id)."""
    block = re.search(r"```text\n(E {7}AssertionError.*?)```", DOCS, flags=re.DOTALL)
    assert block is not None
    return [re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "*", line) for line in block[1].splitlines()]


def _line(text: str) -> str:
    """A regex for one line of a failure message (``*``: anything)."""
    return r"E\s+" + ".*".join(re.escape(part) for part in text.split("*")) + "$"


def _row(*cells: str) -> str:
    """A regex for one row of an audit trail as the assertions print it, whatever its widths."""
    return r"E\s+" + r"\s+".join(re.escape(cell) for cell in cells) + "$"


def _write(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for name, source in files.items():
        pytester.path.joinpath(name).write_text(source, encoding="utf-8")


def test_the_plugin_is_registered_through_its_entry_point() -> None:
    from importlib.metadata import entry_points

    (entry,) = entry_points(group="pytest11", name="lifecycle")
    assert entry.value == "lifecycle.testing"


def test_the_documented_sample_suite_passes(pytester: pytest.Pytester) -> None:
    files = _documented_files()
    assert set(files) == {"my_service.py", "test_assets.py", "test_broken.py"}
    sample = files["my_service.py"] + files["test_assets.py"]
    # It uses every fixture (lifecycle_db_url aside: see the database tests below) and helper.
    helpers = [name for name in lifecycle.testing.__all__ if name[0].islower() and name != "arrows"]
    methods = ["new(", "follow(", "walk(", "tenant_of(", "actor_for("]
    synchronous = [name for name in FIXTURES[:-1] if name != "lifecycle_async_engine"]  # its own test below
    unused = [name for name in [*synchronous, *helpers, *methods] if name not in sample]
    assert not unused
    _write(pytester, {name: files[name] for name in ("my_service.py", "test_assets.py")})
    result = pytester.runpytest(*INNER)
    derived = len(covering_paths()) + len(refused_pairs()) + len(conditional_refusals())
    result.assert_outcomes(passed=SAMPLE_PLAIN_TESTS + derived)
    assert derived == 8 + 75 + 50
    # The figures the page quotes are today's.
    prose = " ".join(DOCS.split())
    assert f"Today {len(covering_paths())} paths take all {len(arrows())} arrows" in prose
    assert (
        f"every (state, event) pair the table has no transition for ({len(refused_pairs())} today)" in prose
    )


def test_a_failure_shows_the_asset_s_history_as_documented(pytester: pytest.Pytester) -> None:
    _write(pytester, {"test_broken.py": _documented_files()["test_broken.py"]})
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(_documented_failure(), consecutive=True)


def test_every_assertion_shows_the_history_when_it_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            from lifecycle import AssetState, Event
            from lifecycle.testing import assert_events, assert_refused, assert_state


            def test_events(lifecycle_engine, lifecycle_assets):
                asset = lifecycle_assets.new(AssetState.UNACTIVED)
                assert_events(lifecycle_engine, asset.asset_id, [Event.ACCEPT_UPLOAD, Event.ACTIVATE])


            def test_state(lifecycle_engine, lifecycle_assets):
                asset = lifecycle_assets.new(AssetState.FAILED)
                assert_state(lifecycle_engine, asset, AssetState.CREATING)


            def test_refused(lifecycle_engine, lifecycle_assets):
                asset = lifecycle_assets.new(AssetState.BLOCK, pre_freeze=AssetState.ACTIVED)
                assert_refused(lifecycle_engine, asset, Event.UNFREEZE)


            def test_unreachable(lifecycle_assets):
                lifecycle_assets.new(AssetState.BLOCK, pre_freeze=AssetState.BLOCK)
            """
        )
    )
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(failed=4)
    result.stdout.re_match_lines(
        [
            _line("AssertionError: asset * had the moves accept_upload, expected accept_upload -> activate"),
            _line("history of asset * (tenant test-tenant), now UNACTIVED:"),
            _row("seq", "event", "from -> to", "actor", "pre_freeze", "pre_delete", "reason"),
            _row("1", "create", "- -> CREATING", "tenant:test-user", "-", "-", "-"),
            _row("2", "accept_upload", "CREATING -> UNACTIVED", "tenant:test-user", "-", "-", "-"),
            _line("AssertionError: asset * is in FAILED, expected CREATING"),
            _row("2", "fail_upload", "CREATING -> FAILED", "tenant:test-user", "-", "-", "-"),
            _line(
                "AssertionError: 'unfreeze' should have been refused for asset *"
                " in BLOCK (pre_freeze=ACTIVED), but was applied"
            ),
            _line("history of asset * (tenant test-tenant), now ACTIVED:"),
            _row("3", "freeze", "ACTIVED -> BLOCK", "platform:test-operator", "ACTIVED", "-", "-"),
            _row("4", "unfreeze", "BLOCK -> ACTIVED", "platform:test-operator", "-", "-", "-"),
            _line(
                "lifecycle.errors.NoLegalPath: no legal path leads to BLOCK with pre_freeze=BLOCK;"
                " reachable in BLOCK: pre_freeze=CREATING | *"
            ),
        ]
    )
    # The helpers hide their own frames: each failure points at the user's line.
    assert "lifecycle/testing.py" not in result.stdout.str()
    assert "lifecycle/explore.py" not in result.stdout.str()


def test_a_suite_that_does_not_use_the_plugin_is_unaffected(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def engine():
            return "my engine"

        @pytest.fixture
        def clock():
            return "my clock"

        @pytest.fixture
        def lifecycle():
            return "my lifecycle"
        """
    )
    pytester.makepyfile(
        """
        def test_own_fixtures(engine, clock, lifecycle):
            assert (engine, clock, lifecycle) == ("my engine", "my clock", "my lifecycle")

        def test_the_plugin_is_loaded(request):
            assert request.config.pluginmanager.hasplugin("lifecycle")
        """
    )
    pytester.runpytest(*INNER).assert_outcomes(passed=2)
    without = pytester.runpytest(*INNER, "-p", "no:lifecycle")
    without.assert_outcomes(passed=1, failed=1)  # only the plugin's presence differs
    # What the plugin adds: one hook, and fixtures whose names are its own.
    hooks = [name for name in vars(lifecycle.testing) if name.startswith("pytest_")]
    fixtures = [
        name
        for name, value in vars(lifecycle.testing).items()
        if type(value).__name__ == "FixtureFunctionDefinition"
    ]
    assert hooks == ["pytest_addoption"]
    assert sorted(fixtures) == sorted([*FIXTURES, "_lifecycle_databases", "_lifecycle_sqlite_template"])


def test_a_fresh_pytest_process_loads_the_plugin_cheaply(pytester: pytest.Pytester) -> None:
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    assert "--lifecycle-db-url=URL" in help_text
    assert "lifecycle_db_url (string)" in help_text
    probe = "import sys, lifecycle.testing; print(sorted(m for m in ('sqlalchemy', 'alembic', 'structlog', 'transitions', 'hypothesis', 'lifecycle.engine', 'lifecycle.definition') if m in sys.modules))"  # noqa: E501
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)  # noqa: S603
    assert loaded.stdout.strip() == "[]"


def test_the_package_imports_its_names_on_first_use() -> None:
    import lifecycle

    assert sorted(lifecycle._MODULES) == sorted(lifecycle.__all__)
    for name in lifecycle.__all__:
        value = getattr(lifecycle, name)
        assert getattr(importlib.import_module(lifecycle._MODULES[name]), name) is value
    assert set(lifecycle.__all__) <= set(dir(lifecycle))
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        lifecycle.Nothing  # noqa: B018


DATABASE_SUITE = """
    from sqlalchemy import func, select

    from lifecycle import AssetState
    from lifecycle.store.repository import assets


    def _count(lifecycle_engine):
        with lifecycle_engine.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(assets)).scalar_one()


    def test_first(lifecycle_db_url, lifecycle_engine, lifecycle_assets):
        assert lifecycle_db_url == {url!r}
        assert _count(lifecycle_engine) == 0
        lifecycle_assets.new(AssetState.BLOCK, frozen_by_tenant=True)


    def test_second(lifecycle_engine, lifecycle_assets):
        assert _count(lifecycle_engine) == 0  # emptied before each test
        lifecycle_assets.new(AssetState.ACTIVED)
"""


ASYNC_SUITE = """
    import pytest

    from lifecycle import AssetState, UploadResult


    @pytest.mark.asyncio
    async def test_first(lifecycle_async_engine, lifecycle_tenant, lifecycle_clock):
        assert lifecycle_async_engine.clock is lifecycle_clock
        assert (await lifecycle_async_engine.list_assets(lifecycle_tenant)).total == 0
        asset = await lifecycle_async_engine.create_asset(lifecycle_tenant, {asset})
        await lifecycle_async_engine.confirm_upload(
            lifecycle_tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED
        )
        assert (await lifecycle_async_engine.get_asset(lifecycle_tenant, asset.asset_id)).asset_state is (
            AssetState.UNACTIVED
        )


    @pytest.mark.asyncio
    async def test_second(lifecycle_async_engine, lifecycle_tenant):
        assert (await lifecycle_async_engine.list_assets(lifecycle_tenant)).total == 0  # a fresh database
        await lifecycle_async_engine.create_asset(lifecycle_tenant, {asset})
"""
ASYNC_ASSET = (
    "__import__('lifecycle').NewAsset('a', __import__('lifecycle').AssetType.IMAGE,"
    " [__import__('lifecycle').NewFile('a.png', 1, 'd41d8cd98f00b204e9800998ecf8427e',"
    " __import__('lifecycle').FileCategory.MAIN)])"
)


@pytest.mark.parametrize("where", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_the_async_engine_fixture_gives_each_async_test_a_fresh_database(
    pytester: pytest.Pytester, where: str
) -> None:
    args = [*INNER]
    if where == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
        args.append(f"--lifecycle-db-url={POSTGRES_URL}")
    pytester.makepyfile(textwrap.dedent(ASYNC_SUITE.format(asset=ASYNC_ASSET)))
    pytester.runpytest(*args).assert_outcomes(passed=2)


def _assets_in(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT asset_state, project_id FROM lifecycle_assets").fetchall()


@pytest.mark.parametrize("where", ["option", "ini", "option over ini", "fixture"])
def test_the_engine_runs_on_the_database_named(pytester: pytest.Pytester, tmp_path: Path, where: str) -> None:
    url = f"sqlite:///{tmp_path / 'named.db'}"
    pytester.makepyfile(textwrap.dedent(DATABASE_SUITE.format(url=url)))
    args = [*INNER]
    if where in ("option", "option over ini"):
        args.append(f"--lifecycle-db-url={url}")
    if where == "ini":
        pytester.makeini(f"[pytest]\nlifecycle_db_url = {url}\n")
    if where == "option over ini":
        pytester.makeini(f"[pytest]\nlifecycle_db_url = sqlite:///{tmp_path / 'other.db'}\n")
    if where == "fixture":
        pytester.makeconftest(
            "import pytest\n\n"
            f"@pytest.fixture(scope='session')\ndef lifecycle_db_url():\n    return {url!r}\n"
        )
    pytester.runpytest(*args).assert_outcomes(passed=2)
    # The schema was upgraded once; what the last test wrote is still there.
    assert _assets_in(tmp_path / "named.db") == [("ACTIVED", "test-tenant")]
    with sqlite3.connect(tmp_path / "named.db") as connection:
        (revision,) = connection.execute(f"SELECT version_num FROM {schema.VERSION_TABLE}").fetchone()
    assert revision == schema.head_revision()
    assert not (tmp_path / "other.db").exists()


def test_without_a_url_each_test_has_its_own_in_memory_database(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent(DATABASE_SUITE.format(url=None)))
    pytester.runpytest(*INNER).assert_outcomes(passed=2)


@pytest.mark.postgresql
def test_the_engine_runs_on_postgresql(pytester: pytest.Pytester) -> None:
    if not POSTGRES_URL:
        pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    pytester.makepyfile(textwrap.dedent(DATABASE_SUITE.format(url=POSTGRES_URL)))
    result = pytester.runpytest(*INNER, f"--lifecycle-db-url={POSTGRES_URL}")
    result.assert_outcomes(passed=2)
