"""jobstore package."""
