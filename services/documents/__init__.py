"""The documents service: PDF key sheets rendered on request, never stored."""
