"""Talking to a Mastodon instance: its limits, posting, media, and login.

Named for what it talks to; the library itself is imported as `mastodon` (absolute
imports), never as this package.
"""
