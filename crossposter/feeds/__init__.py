"""Reading feeds: fetch the bytes, parse them into entries, select what is new, filter it."""
