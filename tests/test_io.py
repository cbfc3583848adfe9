import io

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import InvalidImageError
from core.io import iter_image_paths, load_image


def _png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "mode,maker,expect",
    [
        ("L", lambda: Image.new("L", (8, 6), 100), (100, 100, 100)),
        ("LA", lambda: Image.new("LA", (8, 6), (100, 255)), (100, 100, 100)),
        ("1", lambda: Image.new("1", (8, 6), 1), (255, 255, 255)),
        ("RGBA-opaque", lambda: Image.new("RGBA", (8, 6), (10, 20, 30, 255)), (10, 20, 30)),
        ("RGBA-clear", lambda: Image.new("RGBA", (8, 6), (10, 20, 30, 0)), (255, 255, 255)),
        ("CMYK", lambda: Image.new("CMYK", (8, 6), (0, 0, 0, 0)), (255, 255, 255)),
        ("I;16", lambda: Image.fromarray(np.full((6, 8), 65535, np.uint16)), (255, 255, 255)),
        ("I;16-mid", lambda: Image.fromarray(np.full((6, 8), 32896, np.uint16)), (128, 128, 128)),
        ("F", lambda: Image.fromarray(np.full((6, 8), 0.5, np.float32)), (128, 128, 128)),
        ("YCbCr", lambda: Image.new("RGB", (8, 6), (200, 50, 10)).convert("YCbCr"), (200, 50, 10)),
    ],
)
def test_odd_modes_become_rgb(mode, maker, expect):
    img = maker()
    for src in (img, _png_bytes(img) if img.mode not in ("CMYK", "YCbCr", "F") else img):
        out = load_image(src)
        assert out.dtype == np.uint8 and out.shape == (6, 8, 3)
        np.testing.assert_allclose(out[0, 0], expect, atol=2)


def test_palette_with_transparency_and_plain_palette():
    p = Image.new("P", (4, 4), 0)
    p.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    assert tuple(load_image(p)[0, 0]) == (255, 0, 0)
    p.info["transparency"] = 0
    assert tuple(load_image(_png_bytes(p))[0, 0]) == (255, 255, 255)
    assert tuple(load_image(p, background=(0, 0, 0))[0, 0]) == (0, 0, 0)


def test_16bit_rgb_png_roundtrip(tmp_path):
    import cv2

    arr = np.zeros((5, 7, 3), np.uint16)
    arr[..., 2] = 65535  # BGR order for cv2: red channel
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), arr)
    out = load_image(path)
    assert out.shape == (5, 7, 3) and tuple(out[0, 0]) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif.tobytes(), quality=95)
    out = load_image(path)
    assert out.shape == (40, 20, 3)  # portrait after rotation
    assert out[2, 10, 0] > 200 and out[-3, 10, 0] < 60  # red strip now on top


def test_array_and_tensor_inputs():
    f = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    a = load_image(f)
    assert a.shape == (10, 12, 3) and a.dtype == np.uint8
    t = load_image(torch.from_numpy(f).permute(2, 0, 1))
    np.testing.assert_array_equal(a, t)
    u16 = load_image((f * 65535).astype(np.uint16))
    assert np.abs(u16.astype(int) - a.astype(int)).max() <= 1
    rgba = np.zeros((3, 3, 4), np.uint8)
    assert tuple(load_image(rgba)[0, 0]) == (255, 255, 255)  # fully transparent -> background
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        load_image(f * 3)
    with pytest.raises(InvalidImageError, match="NaN"):
        load_image(np.full((4, 4), np.nan, np.float32))
    with pytest.raises(InvalidImageError, match="shape"):
        load_image(np.zeros((4, 4, 5), np.uint8))


def test_empty_truncated_and_non_image_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InvalidImageError, match="empty") as e:
        load_image(empty)
    assert "empty.jpg" in str(e.value) and e.value.source.endswith("empty.jpg")

    good = _png_bytes(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(good[: len(good) // 2])
    with pytest.raises(InvalidImageError, match="truncated") as e:
        load_image(trunc)
    assert "trunc.jpg" in str(e.value)

    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(InvalidImageError, match="not a recognised image"):
        load_image(text)
    with pytest.raises(InvalidImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(InvalidImageError, match="empty input"):
        load_image(b"")
    with pytest.raises(InvalidImageError, match="unsupported input type"):
        load_image(3.14)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    big = _png_bytes(Image.new("L", (4000, 3000), 0))  # 12 MP, a few KB compressed
    with pytest.raises(InvalidImageError, match="exceeds max_pixels=1,000,000"):
        load_image(big, max_pixels=1_000_000)
    monkeypatch.setenv("FACEIQA_MAX_PIXELS", "5000000")
    with pytest.raises(InvalidImageError, match="decompression bomb"):
        load_image(big)
    assert load_image(big, max_pixels=20_000_000).shape == (3000, 4000, 3)


def test_iter_image_paths(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/x.jpg", "b.PNG", "c.txt"):
        (tmp_path / name).write_bytes(b"0")
    found = iter_image_paths([tmp_path, tmp_path / "b.PNG"])
    assert [p.name for p in found] == ["x.jpg", "b.PNG"] or sorted(p.name for p in found) == ["b.PNG", "x.jpg"]
    assert len(found) == 2


def test_image_to_tensor_takes_read_only_arrays_silently():
    import warnings

    import numpy as np
    import torch
    from PIL import Image

    from core.tensors import image_to_tensor

    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    ro = np.asarray(Image.fromarray(img))  # PIL hands back a read-only view
    assert not ro.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = image_to_tensor(ro)
    assert t.shape == (3, 4, 5) and torch.equal(t, torch.from_numpy(img.copy()).permute(2, 0, 1).float() / 255.0)
    assert not ro.flags.writeable and (ro == img).all()  # the caller's array is untouched
