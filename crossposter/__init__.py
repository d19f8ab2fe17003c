"""Announce new blog posts from RSS/Atom feeds on Mastodon, exactly once."""
