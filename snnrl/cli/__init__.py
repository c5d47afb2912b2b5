"""Command-line interface: ``snnrl COMMAND``."""
