"""Organisations: their API tokens and their caps (jobs, schedules, triggers, webhooks)."""
