"""The gitops service: job manifests live in Git; this service reads, indexes and commits them."""
