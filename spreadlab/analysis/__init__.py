"""Models of the spread and how they are fitted, compared and judged; never runs the engine."""
