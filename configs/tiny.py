"""The end-to-end test config: HcTri's structure, a few steps, tiny everything (see common.variants)."""

from configs import hctri


def get_config(arg: str | None = None):
  del arg
  return hctri.get_config("test")
