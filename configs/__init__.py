"""Run configs: one `get_config(arg)` file per method, built from the blocks in `common`."""
