"""Announce new blog posts from RSS/Atom feeds on Mastodon, exactly once."""

__version__ = "0.1.0"
