"""See README: this app is built out in later issues."""
