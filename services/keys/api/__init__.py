"""The keys service's admin HTTP API: routers per resource, their dependencies, one error map."""
