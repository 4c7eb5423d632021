"""Loading pickles where they cannot harm the caller: a fresh interpreter today."""
