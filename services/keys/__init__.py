"""The keys service: directory, administrators and API keys; owner of the event store."""
