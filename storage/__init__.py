"""Where staging parts and published files live: an fsspec filesystem chosen by URL."""
