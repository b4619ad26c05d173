"""The patchgen command line."""
