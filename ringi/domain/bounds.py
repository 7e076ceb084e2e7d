"""The bounds of a number ringi takes (a request's No., a meeting's, a count): the
same in the CLI, the API and the store. Its own module, free of pydantic, so
that the command line checks a number without importing it."""

#: the largest number anywhere: PostgreSQL's INTEGER, and the API's documented bound
MAX_NUMBER = 2**31 - 1
