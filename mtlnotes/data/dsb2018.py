"""The 2018 Data Science Bowl stage-1 training set (Caicedo et al., Nature Methods 2019), GLUNet's nuclei data.

On-disk format (the official Kaggle layout, as in ``$MTLNOTES_DATA/dsb2018``)::

    dsb2018/stage1_train_labels.csv.zip            header ImageId,EncodedPixels; one row per nucleus
    dsb2018/stage1_train/<ImageId>/images/<ImageId>.png

``EncodedPixels`` is the competition's run-length encoding: space-separated pairs "start length", starts
1-based, pixels numbered top to bottom, then left to right (column-major). The label file is checked against
its sha256; the images against the sha256 of their ``sha256sum`` listing (``MANIFEST.md``, section 7) and for
structure (every image has labels and vice versa, every mask fits its image). Decoded, resized arrays are cached
as ``.npz`` (keyed by size and checksum) so that later loads skip the PNG decoding.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtlnotes.data.cache import DataError, DataMissingError, RemoteFile, cache_dir, fetch

__all__ = ["LABELS", "IMAGES_LISTING_SHA256", "DSB2018", "rle_decode", "rle_encode", "read_labels",
           "instance_labels", "load_dsb2018", "derived_dir"]

HOW_TO_GET = ("Download stage1_train.zip and stage1_train_labels.csv.zip from "
              "https://www.kaggle.com/c/data-science-bowl-2018/data (or BBBC038 at "
              "https://bbbc.broadinstitute.org/BBBC038) and unpack stage1_train/ next to the label file.")
LABELS = RemoteFile("dsb2018", "stage1_train_labels.csv.zip", urls=(),
                    sha256="14b63fa803cdefcbfc3a1e12660ac8e8ef05051f419ca73b83c68d90b2b216fe",
                    md5="3bd0b6eed6f2fae066cc81ee3c36501b", size=2804326, how_to_get=HOW_TO_GET)
# sha256 of `sha256sum` over every stage1_train/<id>/images/<id>.png, sorted by path ("<hex>  ./<id>/images/<id>.png")
IMAGES_LISTING_SHA256 = "e75297dc3c9c0cf156b2cf12f44f6c1d06926a617ba664020b6f86686e07dfa9"


class RLEError(ValueError):
    """A malformed run-length encoding."""


def rle_decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Decode the competition's RLE (1-based starts, column-major) into a bool (H, W) mask.

    Raises :class:`ValueError` for an odd number of values, non-integers, starts < 1, lengths < 1, runs that
    overlap or are not increasing, or a run past the last of H·W pixels (a mask of the wrong size).
    """
    h, w = shape
    tokens = rle.split()
    if len(tokens) % 2:
        raise RLEError(f"RLE has an odd number of values ({len(tokens)}); expected 'start length' pairs")
    try:
        vals = np.asarray([int(t) for t in tokens], dtype=np.int64)
    except ValueError:
        raise RLEError(f"RLE holds a value that is not an integer: {rle[:60]!r}") from None
    starts, lengths = vals[0::2] - 1, vals[1::2]
    if (starts < 0).any() or (lengths < 1).any():
        raise RLEError("RLE starts must be >= 1 and lengths >= 1")
    ends = starts + lengths
    if len(starts) > 1 and (starts[1:] < ends[:-1]).any():
        raise RLEError("RLE runs overlap or are not in increasing order")
    if len(ends) and ends[-1] > h * w:
        raise RLEError(f"RLE run ends at pixel {int(ends[-1])}, past the {h}x{w} = {h * w} pixels of the image "
                       f"(a mask of the wrong size)")
    flat = np.zeros(h * w, dtype=bool)
    for s, e in zip(starts, ends):
        flat[s:e] = True
    return flat.reshape((w, h)).T


def rle_encode(mask: np.ndarray) -> str:
    """Inverse of :func:`rle_decode`: bool (H, W) → "start length …" (1-based, column-major)."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    padded = np.concatenate([[False], flat, [False]])
    change = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = change[0::2], change[1::2]
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(starts, ends))


def read_labels(path: str | os.PathLike) -> dict[str, list[str]]:
    """``ImageId → [EncodedPixels, …]`` from the label CSV or its zip."""
    path = Path(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".csv")]
            if len(names) != 1:
                raise DataError(f"{path} should hold one .csv file, found {names}")
            text = zf.read(names[0]).decode()
    else:
        text = path.read_text()
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:2]] != ["ImageId", "EncodedPixels"]:
        raise DataError(f"{path}: expected the header 'ImageId,EncodedPixels', got {header}")
    out: dict[str, list[str]] = defaultdict(list)
    for row in reader:
        if row:
            out[row[0]].append(row[1])
    return dict(out)


def instance_labels(image_id: str, rles: list[str], shape: tuple[int, int]) -> np.ndarray:
    """Instance-label map (H, W) int32 of one image: 0 background, k for its k-th nucleus.

    Errors name the image: no masks, a malformed RLE, or a mask that does not fit the image.
    """
    if not rles:
        raise DataError(f"image {image_id}: no masks in the label file")
    out = np.zeros(shape, dtype=np.int32)
    for k, rle in enumerate(rles, start=1):
        try:
            out[rle_decode(rle, shape)] = k
        except RLEError as exc:
            raise DataError(f"image {image_id}, mask {k}: {exc}") from None
    return out


@dataclass
class DSB2018:
    """Images (N, 3, S, S) uint8 RGB, instance labels (N, S, S) int32 (0 background), ImageIds (sorted)."""

    images: np.ndarray
    labels: np.ndarray
    ids: list[str]

    @property
    def masks(self) -> np.ndarray:
        """Nuclei masks (N, S, S) bool."""
        return self.labels > 0


def derived_dir() -> Path:
    """Where decoded arrays are cached (``$XDG_CACHE_HOME/mtlnotes-derived``, never inside the data folder)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mtlnotes-derived"


def _listing_sha256(image_dir: Path, paths: list[Path]) -> str:
    lines = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  ./{p.relative_to(image_dir).as_posix()}\n"
                    for p in paths)
    return hashlib.sha256(lines.encode()).hexdigest()


def _resize(arr: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(arr)
    return np.asarray(img.resize((size, size), Image.NEAREST if nearest else Image.BILINEAR))


def load_dsb2018(size: int = 256, root: str | os.PathLike | None = None, *, labels_file: RemoteFile = LABELS,
                 verify_images: bool | None = None, cache: bool = True) -> DSB2018:
    """All 670 training images and their instance labels, resized to ``size``×``size`` (§4.1: 256×256).

    Images are resized bilinearly, label maps with nearest neighbour. ``verify_images`` (default: when the
    folder is the official one with 670 images) checks the images' sha256 listing. ``labels_file`` names the
    label file and its checksum (tests pass fixtures in the official format this way).
    """
    from PIL import Image

    labels_path = fetch(labels_file, root, download=False)
    image_dir = labels_path.parent / "stage1_train"
    if not image_dir.is_dir():
        raise DataMissingError(f"{image_dir} is missing (the 670 images of the official layout). {HOW_TO_GET}")
    paths = sorted(image_dir.glob("*/images/*.png"))
    if cache:
        key = hashlib.sha256(f"{labels_path.resolve()}|{len(paths)}|{size}".encode()).hexdigest()[:16]
        cached = derived_dir() / f"dsb2018-{size}-{key}.npz"
        if cached.exists():
            z = np.load(cached)
            return DSB2018(z["images"], z["labels"], [str(s) for s in z["ids"]])
    if verify_images is None:
        verify_images = len(paths) == 670
    if verify_images and _listing_sha256(image_dir, paths) != IMAGES_LISTING_SHA256:
        raise DataError(f"the images under {image_dir} do not match the official stage1_train set (sha256 of their "
                        f"sha256sum listing should be {IMAGES_LISTING_SHA256}). {HOW_TO_GET}")
    table = read_labels(labels_path)
    ids = [p.parent.parent.name for p in paths]
    for p, image_id in zip(paths, ids):
        if p.stem != image_id:
            raise DataError(f"{p}: the PNG must be named after its folder ({image_id}.png)")
    extra = sorted(set(table) - set(ids))
    if extra:
        raise DataError(f"label file {labels_path} has masks for {len(extra)} image(s) missing under {image_dir}, "
                        f"e.g. {extra[0]}")
    images, labels = [], []
    for p, image_id in zip(paths, ids):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        if image_id not in table:
            raise DataError(f"image {image_id}: no masks in the label file {labels_path}")
        lab = instance_labels(image_id, table[image_id], rgb.shape[:2])
        images.append(_resize(rgb, size, nearest=False).transpose(2, 0, 1))
        labels.append(_resize(lab, size, nearest=True).astype(np.int32))
    data = DSB2018(np.stack(images), np.stack(labels), ids)
    if cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, images=data.images, labels=data.labels, ids=np.asarray(ids))
        os.replace(tmp, cached)
    return data
