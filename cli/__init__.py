"""The report-exports command line: exports, accounts and keys, the stack, the demo."""
