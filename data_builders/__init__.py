"""TFDS builders for the raw SYSU-MM01 and RegDB folders (manual download, ArrayRecord files)."""
