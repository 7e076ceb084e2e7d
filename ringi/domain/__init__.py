"""The pure domain: the rules of DESIGN.md, with no I/O.

- ``vocabulary``: stages, categories, roles, close reasons.
- ``policy``: the configurable rules (threshold, windows, reminders, cost rule).
- ``cost``: the cost-effectiveness evaluation.
- ``commands``: what people and timers ask for.
- ``view``: the state of a request as the events say it is (the read model).
- ``lifecycle``: every rule of the lifecycle: who may do what, in which stage, and when timers fall due.
- ``request`` / ``meeting`` / ``numbering``: the event-sourced aggregates.
"""
