"""Use cases: load the read model, decide in the domain, append to the event store."""
