"""Signals of our own, sent by the spider for what is not a per-URL record."""

# A page links to a URL that has already failed: (key, referrer). The database pipeline stores it
# as one more referrer of that broken link.
broken_link_referrer = object()

# A shorter path to a URL whose record was released already (a job's records go out at once;
# crawler/depths.py): (url, depth, referrer, found_via). The database pipeline updates the stored row.
depth_corrected = object()
