"""A Jepsen-style history checker of the numbering and persistence guarantees.

Black-box: client processes talk HTTP to two real gunicorn servers and record every operation
(``history``), a nemesis breaks real processes on a schedule drawn from the seed (``nemesis``,
on a private Redis and a private MariaDB started by ``cluster``), and after the run, with every
fault healed and the journal drained, ``checker`` reads the history and the database (never
Redis) and lists what the contract forbids. ``runner`` runs one seed; the pytest entry points
are ``test_history`` (one standalone Redis) and ``test_history_cluster`` (the pipeline on a
3-master, 3-replica Redis Cluster, ``sharded``, with failovers, ``cluster_nemesis``).
The seeds CI runs are ``CI_SEEDS`` in each; ``make soak SEEDS=50`` runs more.
"""
