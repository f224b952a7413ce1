"""The dashboard's forms: job options generated from contract.options.JobOptions (option_fields.py),
their refusals mapped to fields (errors.py), the new-crawl form (new_job.py) and the schedule, trigger
and webhook forms (sources.py)."""
