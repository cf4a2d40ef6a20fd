"""Archive, OCI and registry-image builders used only by tests (and the benchmarks)."""
