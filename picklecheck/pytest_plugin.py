"""pytest plugin (filled in by issue 5)."""
