"""api_shim package."""
