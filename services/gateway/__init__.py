"""The gateway: the OpenAI-compatible Coding endpoint, with budgets and metering."""
