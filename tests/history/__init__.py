"""A Jepsen-style history checker of the numbering and persistence guarantees (issue 8).

Black-box: client processes talk HTTP to two real gunicorn servers and record every operation
(``history``), a nemesis breaks real processes on a schedule drawn from the seed (``nemesis``,
on a private Redis and a private MariaDB started by ``cluster``), and after the run, with every
fault healed and the journal drained, ``checker`` reads the history and the database (never
Redis) and lists what the contract forbids. ``test_history`` is the pytest entry point; the
seeds CI runs are ``CI_SEEDS`` there, ``make soak SEEDS=50`` runs more.
"""
