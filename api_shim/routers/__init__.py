"""One router per public API surface."""
