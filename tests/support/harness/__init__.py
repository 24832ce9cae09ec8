"""The process harness: every process the tests, the drills, the history checker and the
benchmark start, started, awaited until ready and stopped here.

- ``process``: ``ServiceProcess``, a child in a process group of its own with its output in a
  log file (mirakuru starts it, waits for its readiness check, and finds its descendants to
  kill); ``command_run``, a command run to completion with its output captured.
- ``ports``: free ports of 127.0.0.1 (``free_port``; ``free_cluster_ports`` with the cluster
  bus's port + 10000 free as well).
- ``redis``: the one ``redis-server`` command line, and ``RedisServer``: standalone, with AOF or
  without persistence, started, shut down, killed and restarted from its folder.
- ``redis_cluster``: ``LocalRedisCluster``, N masters with replicas, and its faults.
- ``mariadb``: ``PrivateMariaDB``, a ``mariadbd`` of its own that a nemesis may stop.
- ``service``: gunicorn and Celery (worker, beat), ready when they answer or say so.
- RabbitMQ: the broker is shared and never started here; a session gets a vhost of its own
  (tests/rabbitmq.py, through ``command_run``).

No Django and no pytest: the benchmark and the history checker's clients import it too.

Libraries: mirakuru (start, wait until ready, stop or kill; it marks each child with an
environment variable, so descendants that left the group are found too, with psutil) does the
process work. pytest-redis and pytest-mysql (built on mirakuru) were not used: their fixtures
are session- or test-scoped factories of one configuration, and what the drills need is a
server that a test kills, truncates the AOF of and starts again on the same port and folder,
a cluster whose nodes fail over, and the same servers outside pytest for the benchmark.
scripts/supervise.py keeps its own process groups (scripts/processes.py): it runs in
production's run.sh, where a test dependency such as mirakuru is not installed.
"""
