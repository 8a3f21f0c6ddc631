"""The analytics answers. Each function takes a Scope and returns a JSON-ready dict that
carries the inputs it used, so a user can check the arithmetic."""
