"""Writes an image folder for tests/cli/data_images.sh and the crops Pillow makes of it:

    /usr/bin/python3 tests/tools/make_images.py DIR R

DIR/images/CLASS/FILE: one class folder per kind of case (odd sizes, portrait and landscape, sizes
just below and above 2R and 4R, smaller than R, grayscale, 16-bit grayscale, RGBA, LA, palette with
transparency, 1-bit, CMYK JPEG, progressive JPEG, a PNG named .JPEG). DIR/expected.npz: `crops`
[N, R, R, 3] uint8 from ADM's center_crop_arr on Image.open(f).convert('RGB') (the original
MaskDiT's preprocessing), `labels` [N], both in torchvision ImageFolder order (sorted classes,
sorted files)."""
import os
import sys

import numpy as np
from PIL import Image


def center_crop_arr(pil_image, image_size):   # ADM's, as the original uses it
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC)
    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - image_size) // 2
    crop_x = (arr.shape[1] - image_size) // 2
    return arr[crop_y: crop_y + image_size, crop_x: crop_x + image_size]


def main(out, R):
    rng = np.random.default_rng(14)

    def rgb(w, h):   # smooth gradients plus noise: both the filters' flat and sharp responses
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) % 256], -1)
        return np.clip(base + rng.integers(-40, 40, (h, w, 3)), 0, 255).astype(np.uint8)

    cases = {
        "a_sizes": [(f"{w}x{h}.png", Image.fromarray(rgb(w, h)), {}) for w, h in
                    [(45, 33), (33, 70), (2 * R - 1, 3 * R), (2 * R, 2 * R + 1), (4 * R - 1, 4 * R + 3),
                     (4 * R, 5 * R), (9 * R + 5, 4 * R + 1), (R, R), (R // 2 + 1, R - 3)]],
        "b_gray": [("l.png", Image.fromarray(rgb(40, 27)[..., 0]), {}),
                   ("l.jpg", Image.fromarray(rgb(41, 30)[..., 1]), {"quality": 90}),
                   ("i16.png", Image.fromarray((rng.integers(0, 600, (29, 37))).astype(np.uint16)), {}),
                   ("one_bit.png", Image.fromarray(rgb(35, 35)[..., 0] > 128), {})],
        "c_alpha": [("rgba.png", Image.fromarray(np.dstack([rgb(38, 31), rng.integers(0, 256, (31, 38), np.uint8)])), {}),
                    ("la.png", Image.fromarray(rgb(30, 39)[..., :2].copy(), "LA"), {}),
                    ("palette.png", Image.fromarray(rgb(50, 36)).quantize(37), {"transparency": 3})],
        "d_jpeg": [("rgb.jpg", Image.fromarray(rgb(70, 51)), {"quality": 85}),
                   ("progressive.jpeg", Image.fromarray(rgb(53, 66)), {"quality": 80, "progressive": True}),
                   ("cmyk.jpg", Image.fromarray(rgb(47, 40)).convert("CMYK"), {"quality": 95}),
                   ("png_inside.JPEG", Image.fromarray(rgb(44, 36)), {"format": "PNG"})],
    }
    crops, labels = [], []
    for label, cls in enumerate(sorted(cases)):
        os.makedirs(f"{out}/images/{cls}", exist_ok=True)
        for name, im, opts in cases[cls]:
            im.save(f"{out}/images/{cls}/{name}", **opts)
        for name in sorted(n for n, _, _ in cases[cls]):
            with Image.open(f"{out}/images/{cls}/{name}") as im:
                crops.append(center_crop_arr(im.convert("RGB"), R))
            labels.append(label)
    np.savez(f"{out}/expected.npz", crops=np.stack(crops), labels=np.array(labels))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
