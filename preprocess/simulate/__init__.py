"""G2Net-format simulator."""
