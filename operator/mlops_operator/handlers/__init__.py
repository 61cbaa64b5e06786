"""Thin kopf handlers: read the resource, ask the domain layer, apply through adapters."""
