"""The editorial desk: the preview grown into a place where editors write, check and approve."""
