"""How close `:reference` comes to the authors' released code: one training step from the same
random start on the same batch, ours in float32 against theirs in float64, next to their own
float32 against their float64 (the size of float32 rounding through their network).

  VIREID_AGW_CODE=/path/to/Cross-Modal-Re-ID-baseline VIREID_HCTRI_CODE=/path/to/Hetero-center-triplet-loss-for-VT-Re-ID \
      python -m benchmarks.reference_parity

Needs torch (pip install -e '.[torch]') and the authors' code (their model, resnet and loss files);
full ResNet-50 at 96x48 with 3 identities x 2 images per modality, about a minute per method on 2
CPU cores. `tests/models/test_reference_parity.py` asserts the same comparison.
"""

import tempfile

from absl import app

from tests.models import authors


def main(_):
  methods = [m for m in authors.ENV if authors.code_folder(m)]
  if not methods:
    raise app.UsageError(f"Set {' or '.join(authors.ENV.values())} to the authors' code folders.")
  print(f"{'method':8s} {'quantity':24s} {'ours f32 - theirs f64':>22s} {'theirs f32 - f64':>17s} {'ratio':>6s}")
  for method in methods:
    with tempfile.TemporaryDirectory() as tmp:
      for quantity, (ours, theirs) in authors.compare(method, tmp).items():
        print(f"{method:8s} {quantity:24s} {ours:22.3g} {theirs:17.3g} {ours / theirs:6.2f}")


if __name__ == "__main__":
  app.run(main)
