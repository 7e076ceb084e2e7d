"""The register (資料2): replayed from the events as of any meeting or moment.

- ``replay``: fold the event log up to a cutoff (a moment, a meeting's day, a
  publication's recorded cutoff and log position); its docstring defines them.
- ``document``: the register's rows in their six columns, and the digest of
  its canonical content.
- ``render``: HTML (printable A4), CSV, XLSX, Markdown and JSON, in Japanese
  or English, byte for byte the same for the same events.
- ``publish``: record a meeting's publication (``RegisterPublished``) and
  verify every publication later (``verify_publications``).
- ``diff``: what changed between two meetings.
- ``importer``: read a register kept before ringi and plan its import.
"""
