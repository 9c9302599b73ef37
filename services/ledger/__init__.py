"""The ledger: the durable usage record and its reports."""
