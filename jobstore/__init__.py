"""The job store: one row per export job, in SQLite by default or PostgreSQL by URL."""
