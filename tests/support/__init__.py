"""What the tests share, one module per job; the root conftest.py loads the fixtures.

- ``contract``: the HTTP contract every response must keep (``ContractClient``, ``error()``).
- ``internal_ids``: no internal identifier in a body, a header or a page link.
- ``tasks``: the tasks the API queued on the real broker, taken off and run in this process.
- ``http``: a JSON client of a live server (no Django, no pytest: child processes import it).
- ``processes``: gunicorn and Celery as real child processes on the test database (fixtures).
- ``waiting``: poll until something is true, or fail the test.
- ``terminal``: write past pytest's capture (the ``say`` fixture).
"""
