"""The API's routes, by role."""
