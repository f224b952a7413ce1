"""scrapyd nodes: the client that talks to them, handing jobs over, and reconciling what they run."""
