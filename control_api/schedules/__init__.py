"""Schedules: recurring crawls of a domain, and the loop that starts them when due."""
