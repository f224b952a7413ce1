"""Where the project is on disk: the root every default path (var/, .env, the SQLite file) is under.

Here, not in db/ or control_api/, because the crawler, the database layer, the API and the benches
all need it and none of them should import another only for a path."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
