"""Webhooks: endpoints told about their organisation's job state changes, and the sender."""
