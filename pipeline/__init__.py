"""The write pipeline: everything between a create's 201 and its row in SQL.

A message, from the view to the row: ``accept.message_accept`` builds a ``records.MessageRecord``
and asks ``numbering`` for a number; ``lua/allocate.lua`` hands it out and writes the record to
the ``journal`` in one atomic step (keys from ``keys``, scripts from ``scripts``). A
``tasks.journal_drain_task`` runs ``drain.journal_drain``, which claims a batch from the
journal and has ``persist.records_persist`` write it in one transaction; after the commit the
journal entries are cleared and the ``counters`` marked. Reads of rows not persisted yet go
through ``selectors``, edits through ``edits``, rows that keep failing to ``dead_letters``.
README.md, "The write pipeline", says the same with the guarantees.
"""
