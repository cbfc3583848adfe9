"""Finished research trials (see README.md); nothing in core/ imports them."""
