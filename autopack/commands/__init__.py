"""One module per command; ``options.py`` holds the options several commands share."""
