"""The monitor: the one writer of a namespace's prediction log (spool -> Parquet)."""
