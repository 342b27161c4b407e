"""gwspec."""
