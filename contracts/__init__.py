"""Shared contracts: events, messages, subjects and formats. Pure: no I/O."""
