"""The submission service: the one way in for the API, the CLI, the recurring flow and the page."""
