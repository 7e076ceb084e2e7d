"""Domain failures. Each message is meant for the person who asked."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain gives."""


class Refused(DomainError):
    """A command that the rules do not allow now; nothing is written."""


class NotAllowed(Refused):
    """The actor's role or company may not do this."""


class NotFound(Refused):
    """The command or read names something that does not exist (a request number)."""


class Conflict(DomainError):
    """The store and the caller disagree about the request's version."""
