"""The panels around the job list, one file each: the header, the workflow tree,
and the tabs (detail, failures, transfers, warnings, timeline, statistics)."""
