"""Triggers: secret URLs that start a crawl when called (deploy hooks)."""
