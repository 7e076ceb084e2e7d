"""The bounds of a number ringi takes (a request's No., a meeting's, a count, a cost evaluation's figures): the
same in the CLI, the API and the store. Its own module, free of pydantic, so
that the command line checks a number without importing it."""

#: the largest number anywhere: PostgreSQL's INTEGER, and the API's documented bound
MAX_NUMBER = 2**31 - 1

#: the most a cost evaluation's command may state (the API documents the same):
#: past them a figure is a slip of the keyboard
MAX_HORIZON_YEARS = 100
MAX_MONTHLY_VOLUME = 10**12
MAX_YEN = 10**15
