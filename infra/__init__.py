"""How to run AI-School Coding: runtime plumbing shared by the services (no domain logic)."""
