"""A local test website, served on loopback, for the crawler's tests."""
