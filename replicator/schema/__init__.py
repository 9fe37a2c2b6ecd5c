"""The pipeline schema: one schema for all of a pipeline's files, inferred across files,
stored with its history, evolved in the run, and what does not fit rescued."""
