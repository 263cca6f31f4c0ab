//! Export: docker-archive and OCI layout (work in progress).
