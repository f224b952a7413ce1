"""What changed between two crawls of a domain, and one URL's history."""
