"""Customer account APIs (API key, our envelope): top-ups, usage records, usage alerts."""
