"""One module per ``pipeline`` subcommand."""
