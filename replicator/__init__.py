"""replicator: replicate the rows of files on object storage into a sink."""
