"""Signals of our own, sent by the spider for what is not a per-URL record."""

# A page links to a URL that has already failed: (key, referrer). The database pipeline stores it
# as one more referrer of that broken link.
broken_link_referrer = object()
