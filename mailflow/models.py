"""Models arrive with their issue; the app exists so the layering is in place."""
