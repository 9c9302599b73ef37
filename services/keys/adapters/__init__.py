"""Adapters: the event store (PostgreSQL, in memory), its relay to JetStream, the documents
service over NATS, OneRoster files."""
