"""The Coding page: the administrators' web console, served by the keys service."""
