"""What the interfaces show, computed from the store: `lbtui report` (summary, formats),
the CLI's tables (render) and the app's views (views)."""
