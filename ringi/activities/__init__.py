"""Everything with side effects: appending events, queueing notifications."""
