"""Report Exports: shared domain code (settings, errors, documents, CLI)."""
