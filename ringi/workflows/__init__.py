"""Durable workflows: one per request."""
