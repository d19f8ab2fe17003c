"""From entry to toot: pure functions, no I/O. `toot.compose` is the entry point."""
