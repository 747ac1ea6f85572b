#!/usr/bin/env python3
"""Write EfficientNet-Lite0 calibration and evaluation sets of real-photo crops.

Two sets of float32 tensors [1,3,224,224] (NCHW), each file one sample,
preprocessed exactly as tools/quantize_efficientnet.py does (its functions are
imported, not copied): shorter side resized with bicubic filtering, 224x224
crop, optional horizontal flip, x = (pixel - 127) / 128, HWC -> CHW. The
first crop of every photo is the evaluation-style centre crop (shorter side
256); the others are random (shorter side 232..320, random position, flip with
probability 1/2), drawn from a fixed seed.

The two sets come from disjoint photos, so a quantizer calibrated on one is
measured on photos it has never seen:

    calibration  sklearn.china, skimage.hubble_deep_field, skimage.immunohistochemistry,
                 skimage.camera, skimage.coins, skimage.gravel, skimage.page
    evaluation   sklearn.flower, skimage.retina, skimage.moon, skimage.clock,
                 skimage.grass, skimage.brick, skimage.cell, skimage.text

(each split has colour and grey photos, natural scenes, textures and close-ups;
grey photos are replicated to three channels). These are the twelve photos
tools/quantize_efficientnet.py calibrates on plus three more photographs that
scikit-image bundles (cell, page, text). Note that the committed
models/efficientnet-lite0-int8 models were calibrated on all twelve, so for
them the evaluation set is not unseen data.

The five evaluation samples of the float model (chelsea/cat, coffee,
astronaut, rocket, motorcycle/stereo_motorcycle) are never used: a photo is
refused if its name is one of them, or if its centre crop matches one of them
(scikit-image's originals, and ../shared/models/efficientnet-lite0/samples
when present), as tools/quantize_efficientnet.py refuses them.

Output (default /tmp/dyadic-photos; nothing here is committed, about 600 KB a file):

    DIR/calibration/NNN_<photo>.npy   64 files, float32 [1,3,224,224]
    DIR/evaluation/NNN_<photo>.npy    64 files, float32 [1,3,224,224]
    DIR/manifest.json                 seed, photos of each set, and per file: photo, crop (centre or random)

NNN numbers the files of a set in order; crops of one photo are consecutive.
Stale .npy files in the two set folders are removed first. The same arguments
give byte-identical files (PIL and NumPy only, no threads); a run takes a few
seconds.

Usage (from the repository root):
    python3 tools/make_calibration_photos.py [--out DIR] [--calibration-count 64] [--evaluation-count 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

DEFAULT_OUT = Path("/tmp/dyadic-photos")
SEED = 20240612
CALIBRATION_PHOTOS = [
    "sklearn.china",
    "skimage.hubble_deep_field",
    "skimage.immunohistochemistry",
    "skimage.camera",
    "skimage.coins",
    "skimage.gravel",
    "skimage.page",
]
EVALUATION_PHOTOS = [
    "sklearn.flower",
    "skimage.retina",
    "skimage.moon",
    "skimage.clock",
    "skimage.grass",
    "skimage.brick",
    "skimage.cell",
    "skimage.text",
]
# scikit-image photographs beyond the ones tools/quantize_efficientnet.py uses.
EXTRA_SKIMAGE = ["cell", "page", "text"]
# The float model's evaluation samples, by their scikit-image names.
REFUSED = {
    "chelsea": "chelsea",
    "cat": "chelsea",
    "coffee": "coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
    "motorcycle": "motorcycle",
    "stereo_motorcycle": "motorcycle",
}


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def as_rgb(img) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def refused_name(name: str) -> str | None:
    stem = name.split(".", 1)[-1]
    return REFUSED.get(stem)


def evaluation_samples(qe) -> dict[str, list[np.ndarray]]:
    """Each evaluation sample as the float model sees it: from scikit-image's
    original (always) and from the shared samples folder (when present)."""
    import skimage.data as skd

    originals = {
        "chelsea": skd.chelsea(),
        "coffee": skd.coffee(),
        "astronaut": skd.astronaut(),
        "rocket": skd.rocket(),
        "motorcycle": skd.stereo_motorcycle()[0],
    }
    out = {s: [qe.preprocess(as_rgb(img))] for s, img in originals.items()}
    shared = qe.SRC / "samples"
    if shared.is_dir():
        for s in qe.SAMPLES:
            if (shared / f"{s}.npy").exists():
                out[s].append(np.load(shared / f"{s}.npy"))
    else:
        print(f"  note: {shared} not found; checking against scikit-image's originals only")
    return out


def load_photos(qe, names: list[str]) -> dict[str, np.ndarray]:
    for name in names:
        s = refused_name(name)
        if s:
            fail(f"refusing {name}: it is the evaluation sample {s}")
    photos = dict(qe.calibration_photos())
    import skimage.data as skd

    for n in EXTRA_SKIMAGE:
        photos["skimage." + n] = as_rgb(getattr(skd, n)())
    missing = [n for n in names if n not in photos]
    if missing:
        fail(f"unknown photo(s) {', '.join(missing)}; known: {', '.join(sorted(photos))}")
    return {n: photos[n] for n in names}


def check_photos(qe, photos: dict[str, np.ndarray]) -> None:
    samples = evaluation_samples(qe)
    for name, img in photos.items():
        centre = qe.preprocess(img)
        for s, refs in samples.items():
            if any(np.abs(centre - r).max() < 0.05 for r in refs):
                fail(f"refusing {name}: its centre crop matches the evaluation sample {s}")


def crops_per_photo(count: int, n_photos: int) -> list[int]:
    base, extra = divmod(count, n_photos)
    return [base + (i < extra) for i in range(n_photos)]


def write_set(qe, kind: str, photos: dict[str, np.ndarray], count: int, out: Path, seed: int) -> list[dict]:
    d = out / kind
    d.mkdir(parents=True, exist_ok=True)
    stale = sorted(d.glob("*.npy"))
    for p in stale:
        p.unlink()
    if stale:
        print(f"  removed {len(stale)} old .npy files from {d}")
    rng = np.random.default_rng([seed, 0 if kind == "calibration" else 1])
    entries = []
    index = 0
    for (name, img), n in zip(photos.items(), crops_per_photo(count, len(photos))):
        print(f"  {kind:<11} {name:<30} {img.shape[1]}x{img.shape[0]}  {n} crops", flush=True)
        for k in range(n):
            x = qe.preprocess(img) if k == 0 else qe.random_crop(img, rng)
            assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
            fname = f"{index:03d}_{name}.npy"
            np.save(d / fname, x)
            entries.append({"file": f"{kind}/{fname}", "photo": name, "crop": "centre" if k == 0 else "random"})
            index += 1
    return entries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default %(default)s)")
    ap.add_argument("--calibration-count", type=int, default=64, help="calibration crops (default %(default)s)")
    ap.add_argument("--evaluation-count", type=int, default=64, help="evaluation crops (default %(default)s)")
    ap.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    args = ap.parse_args()
    for opt, v in (("--calibration-count", args.calibration_count), ("--evaluation-count", args.evaluation_count)):
        if v < 1:
            ap.error(f"{opt} must be at least 1")
    overlap = set(CALIBRATION_PHOTOS) & set(EVALUATION_PHOTOS)
    if overlap:
        fail(f"the calibration and evaluation photos overlap: {', '.join(sorted(overlap))}")

    start = time.perf_counter()
    try:
        import quantize_efficientnet as qe  # the preprocessing and photo list this set must match
    except ImportError as e:
        fail(f"{e}; needs numpy, pillow, onnx, onnxruntime, scikit-image and scikit-learn "
             f"(pip install pillow onnx onnxruntime scikit-image scikit-learn)")

    print("photos:")
    calibration = load_photos(qe, CALIBRATION_PHOTOS)
    evaluation = load_photos(qe, EVALUATION_PHOTOS)
    check_photos(qe, {**calibration, **evaluation})
    print(f"  {len(calibration)} calibration and {len(evaluation)} evaluation photos, disjoint; "
          f"none is an evaluation sample ({', '.join(qe.SAMPLES)})")

    try:
        args.out.mkdir(parents=True, exist_ok=True)
        files = write_set(qe, "calibration", calibration, args.calibration_count, args.out, args.seed)
        files += write_set(qe, "evaluation", evaluation, args.evaluation_count, args.out, args.seed)
        manifest = {
            "seed": args.seed,
            "shape": [1, 3, 224, 224],
            "dtype": "float32",
            "preprocessing": "tools/quantize_efficientnet.py: bicubic resize of the shorter side, 224x224 crop, (pixel - 127) / 128, CHW",
            "calibration_photos": list(calibration),
            "evaluation_photos": list(evaluation),
            "files": files,
        }
        (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    except OSError as e:
        fail(str(e))

    n_cal = sum(f["file"].startswith("calibration/") for f in files)
    n_eval = len(files) - n_cal
    print(f"wrote {n_cal} calibration crops from {len(calibration)} photos to {args.out / 'calibration'}")
    print(f"wrote {n_eval} evaluation crops from {len(evaluation)} photos to {args.out / 'evaluation'}")
    print(f"wrote {args.out / 'manifest.json'} ({time.perf_counter() - start:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
