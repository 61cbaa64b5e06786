"""Inbound adapters: HTTP endpoints other systems call (Alertmanager's webhook)."""
