"""One module per ``preprocess`` subcommand."""
