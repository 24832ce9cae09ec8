"""The write engine: everything between a create's 201 and its row in SQL, knowing no app.

A message, from the view to the row: ``messages_app.services.message_create`` builds a
``messages_app.records.MessageRecord`` and asks ``numbering`` for a number;
``lua/allocate.lua`` hands it out and writes the record to the ``journal`` in one atomic step
(keys from ``keys``, scripts from ``scripts``). ``tasks.journal_drain_task`` runs
``drain.journal_drain``, which claims a batch from the journal and has ``registry`` hand it to
the writers the apps registered (``messages_app.services.messages_persist``) in one
transaction; after the commit the journal entries are cleared and the ``counters`` marked.
Rows that keep failing go to ``dead_letters``. README.md, "How it works", says the same with
the guarantees.
"""
