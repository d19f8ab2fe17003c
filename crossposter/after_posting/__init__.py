"""A toot's life after it went out: edits and removals that follow the article
(`decisions` decides, `follow_up` acts), the `on_posted` hooks, the way back to the
blog (`links`, `replies`), and `retract`."""
