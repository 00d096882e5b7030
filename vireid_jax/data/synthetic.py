"""Procedural visible-infrared person dataset written in the raw SYSU-MM01, RegDB and LLCM layouts.

The licensed datasets cannot be shipped, so this module renders a small stand-in with the same
structure: identities seen by visible and infrared cameras, each camera with its own background,
lighting, scale and viewpoint. Every identity has a body shape, hair, upper and lower clothing with
a colour and a pattern (solid, stripes, checks), an optional bag on one side, and shoes. Thermal
renderings replace colours by near-infrared reflectances: a channel mix unlike luminance plus a
per-material offset, so colour predicts the infrared intensity only partly (as it does in SYSU's
near-infrared cameras); shape, pattern and accessories carry over unchanged.

Usage:
  python -m vireid_jax.data.synthetic --layout=sysu --out=/tmp/SYSU-MM01
  python -m vireid_jax.data.synthetic --layout=regdb --out=/tmp/RegDB
  python -m vireid_jax.data.synthetic --layout=llcm --out=/tmp/LLCM
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import scipy.io
from PIL import Image

# SYSU-MM01 cameras: 1, 2, 4, 5 visible; 3, 6 infrared; 1, 2, 3 indoor.
SYSU_VISIBLE_CAMERAS = (1, 2, 4, 5)
SYSU_INFRARED_CAMERAS = (3, 6)
SYSU_CAMERAS = (1, 2, 3, 4, 5, 6)
# LLCM: nine cameras, each a visible and an infrared sensor sharing its number; the distributed
# infrared test tree has no cam3.
LLCM_CAMERAS = tuple(range(1, 10))
LLCM_INFRARED_TEST_CAMERAS = (1, 2, 4, 5, 6, 7, 8, 9)
VERSION = 2  # bumped whenever the rendering changes; names the built dataset's folders

FRONT, BACK, SIDE = 0, 1, 2
SOLID, STRIPES, CHECKS = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Person:
  """Appearance of one identity. Colours are RGB in [0, 1]; `*_heat` are thermal intensities."""

  height: float  # fraction of the frame the body spans
  shoulder: float  # half-width of the torso in body heights
  head: float  # head radius in body heights
  leg_gap: float
  skin: np.ndarray
  hair: np.ndarray
  long_hair: bool
  upper: np.ndarray
  upper_alt: np.ndarray
  upper_pattern: int
  upper_period: float
  lower: np.ndarray
  lower_alt: np.ndarray
  lower_pattern: int
  shoes: np.ndarray
  bag_side: int  # -1 none, 0 left, 1 right (as seen from the front)
  bag: np.ndarray
  skin_heat: float
  hair_heat: float
  upper_heat: float
  upper_alt_heat: float
  lower_heat: float
  lower_alt_heat: float
  shoes_heat: float
  bag_heat: float


@dataclasses.dataclass(frozen=True)
class Camera:
  """One camera's rendering conditions."""

  infrared: bool
  background: np.ndarray  # [2, 3] colours of the top and bottom of a vertical gradient
  texture: float  # amplitude of the background's sinusoidal texture
  texture_freq: float
  light: float  # global gain
  cast: np.ndarray  # [3] per-channel colour cast (visible only)
  scale: float  # mean person height fraction
  views: np.ndarray  # [3] probabilities of front, back, side
  noise: float


def _colour(rng: np.random.Generator) -> np.ndarray:
  hue = rng.uniform()
  sat = rng.uniform(0.35, 1.0)
  val = rng.uniform(0.25, 0.95)
  # HSV -> RGB without colorsys, vectorised over the three channels.
  k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
  return val - val * sat * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


# Near-infrared reflectance of a dyed material: red-heavy channel mix plus a material offset.
NIR_MIX = np.array([0.6, 0.3, 0.1])
NIR_OFFSET = 0.15


def _reflectance(colour: np.ndarray, rng: np.random.Generator) -> float:
  return float(np.clip(0.2 + 0.8 * NIR_MIX @ colour + rng.uniform(-NIR_OFFSET, NIR_OFFSET), 0.05, 1.0))


def _contrasting(heat: float, alt_colour: np.ndarray, rng: np.random.Generator) -> float:
  """The pattern's second material, pushed at least 0.2 away so patterns stay visible in infrared."""
  alt = _reflectance(alt_colour, rng)
  if abs(alt - heat) >= 0.2:
    return alt
  return float(np.clip(heat + (0.2 if heat < 0.55 else -0.2), 0.05, 1.0))


def sample_person(rng: np.random.Generator) -> Person:
  """Draws one identity's appearance; infrared intensities follow `_reflectance` of the colours."""
  pattern_p = [0.4, 0.35, 0.25]
  skin_tone = rng.uniform(0.35, 0.95)
  upper, upper_alt, lower, lower_alt, bag = (_colour(rng) for _ in range(5))
  shoes = _colour(rng) * 0.5
  hair = _colour(rng) * rng.uniform(0.2, 0.6)
  upper_heat, lower_heat = _reflectance(upper, rng), _reflectance(lower, rng)
  return Person(
      height=rng.uniform(0.82, 0.96),
      shoulder=rng.uniform(0.10, 0.16),
      head=rng.uniform(0.055, 0.075),
      leg_gap=rng.uniform(0.01, 0.035),
      skin=np.array([skin_tone, skin_tone * 0.78, skin_tone * 0.62]),
      hair=hair,
      long_hair=bool(rng.uniform() < 0.4),
      upper=upper,
      upper_alt=upper_alt,
      upper_pattern=int(rng.choice(3, p=pattern_p)),
      upper_period=rng.uniform(0.03, 0.07),
      lower=lower,
      lower_alt=lower_alt,
      lower_pattern=int(rng.choice(2, p=[0.7, 0.3])),
      shoes=shoes,
      bag_side=int(rng.choice([-1, 0, 1], p=[0.4, 0.3, 0.3])),
      bag=bag,
      skin_heat=rng.uniform(0.85, 1.0),
      hair_heat=_reflectance(hair, rng),
      upper_heat=upper_heat,
      upper_alt_heat=_contrasting(upper_heat, upper_alt, rng),
      lower_heat=lower_heat,
      lower_alt_heat=_contrasting(lower_heat, lower_alt, rng),
      shoes_heat=_reflectance(shoes, rng),
      bag_heat=_reflectance(bag, rng),
  )


def sample_camera(rng: np.random.Generator, infrared: bool) -> Camera:
  if infrared:
    dark = rng.uniform(0.05, 0.2)
    background = np.full((2, 3), dark) + np.array([[0.0], [rng.uniform(0.0, 0.1)]])
  else:
    background = np.stack([_colour(rng), _colour(rng)])
  views = rng.dirichlet(np.ones(3) * 2.0)
  return Camera(
      infrared=infrared,
      background=background,
      texture=rng.uniform(0.02, 0.12),
      texture_freq=rng.uniform(4.0, 14.0),
      light=rng.uniform(0.75, 1.15),
      cast=np.ones(3) if infrared else rng.uniform(0.85, 1.15, size=3),
      scale=rng.uniform(0.86, 1.0),
      views=views,
      noise=rng.uniform(0.03, 0.07) if infrared else rng.uniform(0.01, 0.03),
  )


def render(person: Person, camera: Camera, rng: np.random.Generator, height: int = 128, width: int = 64) -> np.ndarray:
  """Renders one image of `person` seen by `camera`; returns uint8 [height, width, 3]."""
  view = int(rng.choice(3, p=camera.views))
  scale = person.height * camera.scale * rng.uniform(0.92, 1.04)
  cx = 0.5 + rng.uniform(-0.06, 0.06)
  top = (1.0 - scale) * rng.uniform(0.2, 0.8)
  # Body coordinates: v in [0, 1] from head top to feet; u in body heights from the centre line,
  # corrected for the frame's aspect ratio so the body keeps its proportions.
  yy, xx = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
  v = (yy / height - top) / scale
  u = (xx / width - cx) * (width / height) / scale
  if view == BACK:
    u = -u  # patterns and the bag appear mirrored from behind

  def heat_or(colour, heat):
    return np.full(3, heat) if camera.infrared else colour

  # Background: vertical gradient, sinusoidal texture, lighting.
  t = (yy / height)[..., None]
  image = camera.background[0] * (1.0 - t) + camera.background[1] * t
  image = image + camera.texture * np.sin(camera.texture_freq * (xx / width + 0.7 * yy / height))[..., None]

  shoulder = person.shoulder * (0.62 if view == SIDE else 1.0)
  swing = rng.uniform(-0.02, 0.02)
  layers = []

  # Legs with pose jitter, then shoes.
  gap = person.leg_gap * (0.3 if view == SIDE else 1.0)
  leg_w = shoulder * 0.42
  for side in (-1.0, 1.0):
    centre = side * (gap + leg_w) + side * swing * (v - 0.52) * 2.0
    leg = (v >= 0.52) & (v < 0.94) & (np.abs(u - centre) < leg_w)
    layers.append(
        (
            leg,
            _patterned(
                person.lower,
                person.lower_alt,
                person.lower_pattern,
                0.05,
                u,
                v,
                camera.infrared,
                person.lower_heat,
                person.lower_alt_heat,
            ),
        )
    )
    shoe = (v >= 0.94) & (v < 1.0) & (np.abs(u - centre - 0.2 * leg_w) < leg_w * 1.15)
    layers.append((shoe, heat_or(person.shoes, person.shoes_heat)))

  # Torso (trapezoid, wider at the shoulders) and sleeves.
  torso_half = shoulder * (1.0 - 0.25 * np.clip((v - 0.17) / 0.37, 0.0, 1.0))
  torso = (v >= 0.17) & (v < 0.54) & (np.abs(u) < torso_half)
  upper_fill = _patterned(
      person.upper,
      person.upper_alt,
      person.upper_pattern,
      person.upper_period,
      u,
      v,
      camera.infrared,
      person.upper_heat,
      person.upper_alt_heat,
  )
  layers.append((torso, upper_fill))
  arm_w = shoulder * 0.3
  for side in (-1.0, 1.0):
    arm_c = side * (shoulder + arm_w * 0.9) + side * 0.04 * (v - 0.18)
    sleeve = (v >= 0.18) & (v < 0.4) & (np.abs(u - arm_c) < arm_w)
    hand = (v >= 0.4) & (v < 0.5) & (np.abs(u - arm_c) < arm_w * 0.8)
    if view != SIDE or side > 0:
      layers.append((sleeve, upper_fill))
      layers.append((hand, heat_or(person.skin, person.skin_heat)))

  # Bag hanging on one side of the torso; from the side only the near side is seen.
  if person.bag_side >= 0 and not (view == SIDE and person.bag_side == 0):
    side = -1.0 if person.bag_side == 0 else 1.0
    bag_c = side * (shoulder + arm_w * 1.6)
    bag = (v >= 0.36) & (v < 0.56) & (np.abs(u - bag_c) < shoulder * 0.45)
    strap = (v >= 0.17) & (v < 0.36) & (np.abs(u - side * shoulder * (0.2 + (v - 0.17) * 4.0)) < 0.008)
    layers.append((bag | strap, heat_or(person.bag, person.bag_heat)))

  # Head: face from the front, hair from the back, half of each from the side.
  r = person.head
  head_v = 0.02 + r
  head = ((u / (r * 0.85)) ** 2 + ((v - head_v) / r) ** 2) < 1.0
  neck = (v >= head_v) & (v < 0.18) & (np.abs(u) < r * 0.4)
  layers.append((head | neck, heat_or(person.skin, person.skin_heat)))
  hair_line = {FRONT: head_v - 0.5 * r, BACK: head_v + (1.2 if person.long_hair else 0.7) * r, SIDE: head_v}[view]
  hair = head & ((v < hair_line) | ((view == SIDE) & (u < -0.2 * r)))
  if person.long_hair:
    hair = hair | ((v >= head_v) & (v < head_v + 2.2 * r) & (np.abs(u) < r * 0.95) & (np.abs(u) > r * 0.55))
  layers.append((hair, heat_or(person.hair, person.hair_heat)))

  for mask, fill in layers:
    image = np.where(mask[..., None], fill, image)

  gain = camera.light * rng.uniform(0.9, 1.1)
  image = image * gain * camera.cast
  image = image + rng.normal(0.0, camera.noise, size=image.shape[:2] + ((1,) if camera.infrared else (3,)))
  if camera.infrared:
    image = np.repeat(image.mean(axis=-1, keepdims=True), 3, axis=-1)
  return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _patterned(base, alt, pattern, period, u, v, infrared, base_heat, alt_heat):
  """Per-pixel fill [H, W, 3] of a garment: solid, horizontal stripes or checks."""
  if infrared:
    base, alt = np.full(3, base_heat), np.full(3, alt_heat)
  if pattern == SOLID:
    return np.broadcast_to(base, u.shape + (3,))
  stripes = np.floor(v / period) % 2 == 1
  if pattern == CHECKS:
    # Offset by a third of a period so the mirror image (back view) differs from the front.
    stripes = stripes ^ (np.floor(u / period + 0.33) % 2 == 1)
  return np.where(stripes[..., None], alt, base)


@dataclasses.dataclass(frozen=True)
class SysuSpec:
  """Size of a synthetic SYSU-MM01 tree. Identity numbers skip some values, as the real ones do."""

  num_identities: int = 100
  num_train: int = 60
  num_val: int = 10
  images_per_camera: tuple[int, int] = (3, 6)  # inclusive range per (identity, camera)
  height: int = 128
  width: int = 64
  seed: int = 0
  more_test_identities: int = 0  # people past the others, all in the test split; the rest of the tree unchanged


@dataclasses.dataclass(frozen=True)
class RegdbSpec:
  """Size of a synthetic RegDB tree: aligned visible/thermal pairs, 10 of each per identity."""

  num_identities: int = 40
  images_per_identity: int = 10
  height: int = 128
  width: int = 64
  seed: int = 0
  trials: int = 10


@dataclasses.dataclass(frozen=True)
class LlcmSpec:
  """Size of a synthetic LLCM tree: identities split train/test as LLCM's 713/351 (two thirds)."""

  num_identities: int = 60
  num_train: int = 40
  cameras_per_modality: tuple[int, int] = (2, 4)  # inclusive range of cameras that see an identity
  images_per_camera: tuple[int, int] = (2, 3)
  height: int = 128
  width: int = 64
  seed: int = 0


def _sysu_identity_numbers(n: int, rng: np.random.Generator) -> list[int]:
  pool = np.arange(1, int(n * 1.1) + 2)
  return sorted(int(i) for i in rng.choice(pool, size=n, replace=False))


def _sysu_camera_sets(num_ids: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
  """Cameras that see each identity: at least one visible and one infrared, as in SYSU-MM01."""
  sets = []
  for _ in range(num_ids):
    visible = [c for c in SYSU_VISIBLE_CAMERAS if rng.uniform() < 0.7] or [int(rng.choice(SYSU_VISIBLE_CAMERAS))]
    infrared = [c for c in SYSU_INFRARED_CAMERAS if rng.uniform() < 0.7] or [int(rng.choice(SYSU_INFRARED_CAMERAS))]
    sets.append(tuple(sorted(visible + infrared)))
  return sets


def sysu_spec(identities: int, more_test_identities: int = 0, seed: int = 0) -> SysuSpec:
  """A tree of `identities` people split as the default one (60% train, 10% val, 30% test), and
  `more_test_identities` people in its test split only."""
  return SysuSpec(
      num_identities=identities,
      num_train=round(0.6 * identities),
      num_val=round(0.1 * identities),
      seed=seed,
      more_test_identities=more_test_identities,
  )


def write_sysu(root: str, spec: SysuSpec = SysuSpec()) -> dict[str, int]:
  """Writes `cam{1..6}/{id:04d}/{n:04d}.jpg`, `exp/{train,val,test}_id.txt`, `exp/rand_perm_cam.mat`.

  Returns counts (identities per split, images per camera) for logging.
  """
  rng = np.random.default_rng(spec.seed)
  ids = _sysu_identity_numbers(spec.num_identities, rng)
  cameras = {c: sample_camera(rng, infrared=c in SYSU_INFRARED_CAMERAS) for c in SYSU_CAMERAS}
  seen_by = _sysu_camera_sets(len(ids), rng)
  # Numbered past the others, their cameras drawn apart from `rng` ([seed, 0] seeds no person), so
  # that everything else is written as without them.
  more = list(range(max(ids) + 1, max(ids) + 1 + spec.more_test_identities))
  seen_by += _sysu_camera_sets(len(more), np.random.default_rng([spec.seed, 0]))
  counts = {f"cam{c}": 0 for c in SYSU_CAMERAS}
  max_id = max(ids + more)
  # rand_perm_cam{c}{p} is a 10 x n uint8 matrix of 1-based permutations (n = 0 where unseen).
  perms = {c: [np.zeros((10, 0), np.uint8) for _ in range(max_id)] for c in SYSU_CAMERAS}
  for identity, cams in zip(ids + more, seen_by):
    person = sample_person(np.random.default_rng([spec.seed, identity]))
    for c in cams:
      img_rng = np.random.default_rng([spec.seed, identity, c])
      n = int(img_rng.integers(spec.images_per_camera[0], spec.images_per_camera[1] + 1))
      folder = os.path.join(root, f"cam{c}", f"{identity:04d}")
      os.makedirs(folder, exist_ok=True)
      for k in range(1, n + 1):
        pixels = render(person, cameras[c], img_rng, spec.height, spec.width)
        Image.fromarray(pixels).save(os.path.join(folder, f"{k:04d}.jpg"), quality=92)
      perms[c][identity - 1] = np.stack([img_rng.permutation(n) + 1 for _ in range(10)]).astype(np.uint8)
      counts[f"cam{c}"] += n
  for c in SYSU_CAMERAS:  # cameras that saw nobody still have their (empty) folder
    os.makedirs(os.path.join(root, f"cam{c}"), exist_ok=True)

  order = rng.permutation(len(ids))
  train = sorted(ids[i] for i in order[: spec.num_train])
  val = sorted(ids[i] for i in order[spec.num_train : spec.num_train + spec.num_val])
  test = sorted(ids[i] for i in order[spec.num_train + spec.num_val :]) + more
  exp = os.path.join(root, "exp")
  os.makedirs(exp, exist_ok=True)
  for name, split in (("train", train), ("val", val), ("test", test)):
    with open(os.path.join(exp, f"{name}_id.txt"), "w") as f:
      f.write(",".join(str(i) for i in split))
  cells = np.empty((len(SYSU_CAMERAS), 1), dtype=object)
  for j, c in enumerate(SYSU_CAMERAS):
    per_person = np.empty((max_id, 1), dtype=object)
    for p in range(max_id):
      per_person[p, 0] = perms[c][p]
    cells[j, 0] = per_person
  scipy.io.savemat(os.path.join(exp, "rand_perm_cam.mat"), {"rand_perm_cam": cells})
  return {"train_ids": len(train), "val_ids": len(val), "test_ids": len(test), **counts}


def write_regdb(root: str, spec: RegdbSpec = RegdbSpec()) -> dict[str, int]:
  """Writes `Visible/<id>/*.bmp`, `Thermal/<id>/*.bmp` and `idx/{train,test}_{visible,thermal}_{t}.txt`.

  Images of one identity are aligned pairs: the k-th visible and thermal images share pose,
  viewpoint and placement, as RegDB's dual-camera frames do. Each trial splits the identities
  half/half at random; idx lines are `<relative path> <label>` with the label the identity's
  index in that file's split.
  """
  rng = np.random.default_rng(spec.seed)
  visible_cam, thermal_cam = sample_camera(rng, infrared=False), sample_camera(rng, infrared=True)
  files: dict[int, tuple[list[str], list[str]]] = {}
  for identity in range(1, spec.num_identities + 1):
    person = sample_person(np.random.default_rng([spec.seed, identity]))
    gender = "female" if identity % 3 == 0 else "male"
    visible, thermal = [], []
    for k in range(spec.images_per_identity):
      frame = 100 * identity + k
      view = ("front", "back")[k % 2]
      pair_seed = [spec.seed, identity, k]
      for modality, cam, names, letter in (
          ("Visible", visible_cam, visible, "v"),
          ("Thermal", thermal_cam, thermal, "t"),
      ):
        name = f"{modality}/{identity}/{gender}_{view}_{letter}_{frame:05d}_{identity}.bmp"
        os.makedirs(os.path.join(root, modality, str(identity)), exist_ok=True)
        pixels = render(person, cam, np.random.default_rng(pair_seed), spec.height, spec.width)
        Image.fromarray(pixels).save(os.path.join(root, name))
        names.append(name)
    files[identity] = (visible, thermal)

  os.makedirs(os.path.join(root, "idx"), exist_ok=True)
  identities = np.arange(1, spec.num_identities + 1)
  for trial in range(1, spec.trials + 1):
    perm = np.random.default_rng([spec.seed, 1000 + trial]).permutation(identities)
    half = spec.num_identities // 2
    for split, ids in (("train", sorted(perm[:half])), ("test", sorted(perm[half:]))):
      for m, modality in enumerate(("visible", "thermal")):
        lines = [f"{path} {label}" for label, i in enumerate(ids) for path in files[int(i)][m]]
        with open(os.path.join(root, "idx", f"{split}_{modality}_{trial}.txt"), "w") as f:
          f.write("\n".join(lines) + "\n")
  return {
      "identities": spec.num_identities,
      "visible_images": sum(len(v) for v, _ in files.values()),
      "thermal_images": sum(len(t) for _, t in files.values()),
  }


def write_llcm(root: str, spec: LlcmSpec = LlcmSpec()) -> dict[str, int]:
  """Writes LLCM's raw layout: `idx/train_vis.txt`, `idx/train_nir.txt` (lines `<relative path>
  <label>`, the label the identity's index among the training identities), `idx/test_id.txt` (one
  comma-separated line), and the images `{train,test}_{vis,nir}/cam<c>/<id:04d>/<id:04d>_c<cc>_<k:04d>.jpg`.

  Camera c's visible and infrared sensors are rendered with their own conditions; every identity
  is seen by 2-4 cameras in each modality (at least two, so a query always keeps a true match
  after its own camera's images are removed); test identities' infrared cameras are drawn from
  the eight the distributed infrared test tree has (no cam3).
  """
  rng = np.random.default_rng(spec.seed)
  ids = _sysu_identity_numbers(spec.num_identities, rng)
  sensors = {(c, m): sample_camera(rng, infrared=m == "nir") for c in LLCM_CAMERAS for m in ("vis", "nir")}
  order = rng.permutation(len(ids))
  train = sorted(ids[i] for i in order[: spec.num_train])
  test = sorted(ids[i] for i in order[spec.num_train :])
  lists: dict[str, list[str]] = {"vis": [], "nir": []}
  counts = {"train_ids": len(train), "test_ids": len(test), "images": 0}
  for identity in ids:
    split = "train" if identity in train else "test"
    person = sample_person(np.random.default_rng([spec.seed, identity]))
    id_rng = np.random.default_rng([spec.seed, identity, 0])
    for modality in ("vis", "nir"):
      allowed = LLCM_INFRARED_TEST_CAMERAS if (split, modality) == ("test", "nir") else LLCM_CAMERAS
      lo, hi = spec.cameras_per_modality
      cams = sorted(id_rng.choice(allowed, size=int(id_rng.integers(lo, hi + 1)), replace=False))
      for c in cams:
        img_rng = np.random.default_rng([spec.seed, identity, int(c), modality == "nir"])
        folder = f"{split}_{modality}/cam{c}/{identity:04d}"
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        for k in range(1, int(img_rng.integers(spec.images_per_camera[0], spec.images_per_camera[1] + 1)) + 1):
          name = f"{folder}/{identity:04d}_c{c:02d}_{k:04d}.jpg"
          pixels = render(person, sensors[int(c), modality], img_rng, spec.height, spec.width)
          Image.fromarray(pixels).save(os.path.join(root, name), quality=92)
          counts["images"] += 1
          if split == "train":
            lists[modality].append(f"{name} {train.index(identity)}")
  os.makedirs(os.path.join(root, "idx"), exist_ok=True)
  for modality, lines in lists.items():
    with open(os.path.join(root, "idx", f"train_{modality}.txt"), "w") as f:
      f.write("\n".join(lines) + "\n")
  with open(os.path.join(root, "idx", "test_id.txt"), "w") as f:
    f.write(",".join(str(i) for i in test))
  return counts


def main(argv: Sequence[str] | None = None) -> None:
  import argparse

  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--layout", choices=("sysu", "regdb", "llcm"), required=True)
  parser.add_argument("--out", required=True, help="folder to write the raw dataset into")
  parser.add_argument("--identities", type=int, default=None)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  if args.layout == "sysu":
    counts = write_sysu(args.out, sysu_spec(args.identities or SysuSpec.num_identities, seed=args.seed))
  elif args.layout == "regdb":
    counts = write_regdb(
        args.out, RegdbSpec(num_identities=args.identities or RegdbSpec.num_identities, seed=args.seed)
    )
  else:
    n = args.identities or LlcmSpec.num_identities
    counts = write_llcm(args.out, LlcmSpec(num_identities=n, num_train=round(2 * n / 3), seed=args.seed))
  print(f"wrote {args.layout} layout to {args.out}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
  main()
