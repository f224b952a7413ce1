"""A job's per-URL results: the task list, the issues report and the exports."""
