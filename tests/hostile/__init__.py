"""Hostile input over every public operation of ``Lifecycle`` and every command of the admin script.

Hypothesis draws wrong types, ids of every kind (missing, another tenant's, hostile strings),
hostile text (quotes, SQL, ``%`` and ``_``, NUL and other control characters, text at and past
every documented limit, emoji and their ZWJ sequences, right-to-left text, bidi overrides,
combining marks, lone surrogates), times, expected versions, page bounds and batch lists. For every
input, on SQLite and on PostgreSQL:

* the only exceptions are ``LifecycleError``s, and never ``StoreUnavailable``: bad input is refused
  before the database sees it. The admin script: an exit code from its documented table other
  than 1, and on failure exactly one line ``error CODE: message`` on stderr, no traceback;
* a refusal writes nothing: the row counts of the four tables and every row of the assets the
  example could touch are as they were;
* text comes back exactly as given, or is refused with ``InvalidParameter`` naming the field.

Which text is refused is written down again here (``RULES``, ``unstorable``, ``breaks_the_line``)
from the documented limits, independently of lifecycle/inputs.py: a test that asked the library
what it accepts would prove nothing.

The files. The machinery every test shares:

* ``rules.py``: the rules written down again, and the ``*_problems`` functions that name the
  arguments of one call those rules refuse;
* ``drawing.py``: the ``HOSTILE`` settings, who acts (``OWNER``, ``INTRUDER``, ``PLATFORM``), what
  Hypothesis draws, and ``Pick``;
* ``world.py``: the seeded ``World``, the ``Arena`` that checks a refusal wrote nothing, and
  ``Outcome``, which checks an answer against the rules;
* ``script.py``: ``Script``, the admin script on one database, and ``leaf_commands``;
* ``conftest.py``: the fixtures ``arena``, ``script`` and ``both_backends``.

One test module per concern, each opening with the property it checks:

* ``test_creation.py``: ``create_asset``, every field of ``NewAsset`` and ``NewFile``;
* ``test_moves.py``: ``fire`` and every wrapper;
* ``test_uploads.py``: ``confirm_upload``;
* ``test_tenant_wide.py``: ``freeze_tenant`` and ``unfreeze_tenant``;
* ``test_unfreeze_applications.py``: apply, approve, reject, get and list;
* ``test_queries.py``: the reads, ``verify_audit`` and the storage queries;
* ``test_batches.py``: ``batch``;
* ``test_explicit_arguments.py``: hand-written hostile arguments across operations;
* ``test_time.py``: ``sweep`` and ``due_counts``;
* ``test_both_backends.py``: the same text gets the same answer on SQLite and PostgreSQL;
* ``test_admin_script.py``: every command of the admin script.

Every test is derandomized: Hypothesis seeds it from its own source, so the same commit draws the
same examples. A wider search is a run with ``derandomize`` turned off in ``drawing.HOSTILE``.
"""
