"""Jobs: creating, listing, reading and cancelling crawl jobs, with their results and changes."""
