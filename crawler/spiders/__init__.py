"""Spiders of the crawler project: `site` crawls one website."""
