"""Demo source data: the schema the reports read and a deterministic generator."""
