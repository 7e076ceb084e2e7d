"""The read model: what the reads need, kept in the event store's own database.

Every read used to fold the history again (the register of a past meeting, the
list of requests, the audit page), so it grew with every event recorded. The
projection keeps the folded result in tables beside the events instead, and
brings them up to date a batch of events at a time:

- ``views``: the tables (the current state of every request, its endorsements
  and answers, and the checkpoints) and the recorders that write them, one per
  database. They are eventsourcing tracking recorders: every batch of events is
  applied in the same transaction as the position it brings the tracking
  record to, so an event is applied exactly once, whoever applies it and
  however often a process dies half-way.
- ``catchup``: folding the events after the tracking position onto the stored
  states, with the ``Request`` aggregate's own event functions (see
  ``ringi.register.fold``).
- ``runner``: eventsourcing's ``ProjectionRunner`` keeping it current in the
  worker (and in ``ringi up``); on SQLite, whose recorder cannot be subscribed
  to, through a subscription that polls.
- ``checkpoints``: the register folded at a meeting's cutoff (or a
  publication's), kept so that the register of a past meeting is read, not
  folded again.

A reader never waits for a runner: it brings the projection up to the store's
head itself first (``caught_up``), in the same exactly-once transactions, so it
reads its own writes and a store with no worker running still answers.
"""
