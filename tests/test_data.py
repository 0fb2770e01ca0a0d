import gzip
import http.server
import socket
import threading

import pytest
import torch

from src import data
from src.data import (
    ENV_VAR,
    AugmentParams,
    IDXFile,
    MNISTError,
    augment_digits,
    batches,
    ensure_mnist,
    load_mnist,
    md5_hex,
    parse_idx,
    read_idx_bytes,
    studio_views,
)


def idx_bytes(array: torch.Tensor) -> bytes:
    header = bytes([0, 0, 0x08, array.dim()]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.to(torch.uint8).numpy().tobytes()


def tiny_specs(n_train=40, n_test=20):
    """Four tiny IDX files shaped like MNIST's, with the specs (digests) that fit them."""
    g = torch.Generator().manual_seed(0)
    arrays = {
        "train_images": torch.randint(0, 256, (n_train, 28, 28), generator=g),
        "train_labels": torch.arange(n_train) % 10,
        "test_images": torch.randint(0, 256, (n_test, 28, 28), generator=g),
        "test_labels": torch.arange(n_test) % 10,
    }
    files, specs = {}, {}
    for key, array in arrays.items():
        raw = idx_bytes(array)
        name = data.MNIST_FILES[key].name
        specs[key] = IDXFile(name, md5_hex(raw), 0x800 + array.dim(), tuple(array.shape))
        files[f"{name}.gz"] = gzip.compress(raw)
    return specs, files, arrays


# ------------------------------------------------------------------------------- parsing


def test_parse_idx_round_trip():
    array = torch.arange(2 * 3 * 4).reshape(2, 3, 4)
    parsed = parse_idx(idx_bytes(array))
    assert parsed.dtype == torch.uint8
    assert torch.equal(parsed, array.to(torch.uint8))


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00", "too short"),
        (b"\x00\x00\x09\x01" + (3).to_bytes(4, "big") + b"abc", "bad IDX magic"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "shape (5,)"),
        (b"\x00\x00\x08\x03" + (5).to_bytes(4, "big"), "truncated IDX header"),
    ],
)
def test_parse_idx_rejects_malformed(raw, message):
    with pytest.raises(MNISTError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_idx(raw, source="x.idx")


def test_parse_idx_checks_expected_shape():
    spec = IDXFile("labels", "", 0x801, (4,))
    with pytest.raises(MNISTError, match=r"expected magic 0x00000801 and shape \(4,\)"):
        parse_idx(idx_bytes(torch.zeros(3)), spec)


def test_read_idx_bytes_handles_gzip_and_raw(tmp_path):
    raw = idx_bytes(torch.ones(3, 2))
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "a").write_bytes(raw)
    assert read_idx_bytes(tmp_path / "a.gz") == raw == read_idx_bytes(tmp_path / "a")
    (tmp_path / "b.gz").write_bytes(gzip.compress(raw)[:-10])
    with pytest.raises(MNISTError, match="corrupt gzip"):
        read_idx_bytes(tmp_path / "b.gz")


def write_tiny_mnist(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (folder / name).write_bytes(payload)


def test_load_mnist_from_folder_with_fixed_split(tmp_path, monkeypatch):
    specs, files, arrays = tiny_specs()
    monkeypatch.setattr(data, "MNIST_FILES", specs)
    monkeypatch.delenv(ENV_VAR, raising=False)
    write_tiny_mnist(tmp_path, files)
    a = load_mnist(tmp_path, val_size=10, split_seed=1, download=False)
    b = load_mnist(tmp_path, val_size=10, split_seed=1, download=False)
    assert a.train_images.shape == (30, 28, 28) and a.val_images.shape == (10, 28, 28)
    assert torch.equal(a.val_labels, b.val_labels)  # the split is fixed by its seed
    joined = torch.cat([a.train_images, a.val_images]).flatten(1).sum(1).sort().values
    assert torch.equal(joined, arrays["train_images"].flatten(1).sum(1).sort().values)
    assert torch.equal(a.test_images, arrays["test_images"].to(torch.uint8))


def test_digest_mismatch_is_reported(tmp_path, monkeypatch):
    specs, files, _ = tiny_specs()
    monkeypatch.setattr(data, "MNIST_FILES", specs)
    name = specs["test_labels"].name + ".gz"
    files[name] = gzip.compress(idx_bytes(torch.full((20,), 3)))  # valid IDX, wrong content
    write_tiny_mnist(tmp_path, files)
    with pytest.raises(MNISTError, match="digest .* does not match"):
        load_mnist(tmp_path, val_size=10, download=False)


def test_env_var_overrides_configured_root(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere"))
    assert data.resolve_data_root("configured") == tmp_path / "elsewhere"
    monkeypatch.setenv(ENV_VAR, "")
    assert str(data.resolve_data_root("configured")) == "configured"


def test_missing_offline_names_files_folder_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(MNISTError) as err:
        ensure_mnist(tmp_path, download=False)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert str(tmp_path) in message and ENV_VAR in message


# ----------------------------------------------------------------- download over loopback


@pytest.fixture
def file_server():
    """Serve a dict {name: bytes} on 127.0.0.1; yields (base_url, dict to fill)."""
    payloads: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = payloads.get(self.path.rsplit("/", 1)[-1])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mnist/", payloads
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_from_loopback_mirror(tmp_path, monkeypatch, file_server):
    url, payloads = file_server
    specs, files, arrays = tiny_specs()
    payloads.update(files)
    monkeypatch.setattr(data, "MNIST_FILES", specs)
    monkeypatch.delenv(ENV_VAR, raising=False)
    dead_mirror = f"http://127.0.0.1:{free_port()}/"
    root = ensure_mnist(tmp_path / "fresh", mirrors=(dead_mirror, url))  # falls through
    assert sorted(p.name for p in root.iterdir()) == sorted(files)  # no temp files left
    splits = load_mnist(root, val_size=5, download=False)
    assert torch.equal(splits.test_labels, arrays["test_labels"])


def test_corrupt_download_is_rejected_and_not_written(tmp_path, monkeypatch, file_server):
    url, payloads = file_server
    specs, files, _ = tiny_specs()
    name = specs["train_labels"].name + ".gz"
    files[name] = gzip.compress(b"\x00\x00\x08\x01" + (40).to_bytes(4, "big") + bytes(40))
    payloads.update(files)
    monkeypatch.setattr(data, "MNIST_FILES", specs)
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(MNISTError, match="download failed(.|\n)*digest"):
        ensure_mnist(tmp_path, mirrors=(url,))
    assert not (tmp_path / name).exists()
    assert not list(tmp_path.glob(".*tmp"))


def test_server_down_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    mirror = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(MNISTError) as err:
        ensure_mnist(tmp_path, mirrors=(mirror,))
    message = str(err.value)
    assert "download failed" in message and ENV_VAR in message and mirror in message


# --------------------------------------------------------------------- batches and augment


def test_batches_cover_everything_once():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1).expand(10, 28, 28)
    labels = torch.arange(10)
    seen = []
    for x, y in batches(
        images, labels, 4, shuffle=True, generator=torch.Generator().manual_seed(0)
    ):
        assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32
        assert torch.allclose(x[:, 0, 0, 0] * 255, y.float())
        seen += y.tolist()
    assert sorted(seen) == list(range(10))


def test_augment_keeps_shape_range_and_ink():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0  # a bar of ink in the middle
    out = augment_digits(x, AugmentParams(), g)
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1
    ink = out.sum(dim=(1, 2, 3))
    assert (ink > 0.3 * x[0].sum()).all()  # digits stay on the canvas
    assert not torch.allclose(out, x)


def test_augment_is_identity_with_zero_ranges():
    x = torch.rand(4, 1, 28, 28)
    params = AugmentParams(0, 0, 1, 1, 0, 0)
    assert torch.allclose(augment_digits(x, params), x, atol=1e-5)


def test_elastic_distortion_bends_but_keeps_the_digit():
    """Elastic only (no affine): ink moves a little, smoothly, and stays on the canvas;
    off by default, and `elastic_prob` picks which digits bend."""
    x = torch.zeros(32, 1, 28, 28)
    x[:, :, 6:22, 12:15] = 1.0
    still = dict(rotate_deg=0, translate_px=0, scale_min=1, scale_max=1, shear_deg=0,
                 thickness_prob=0)  # fmt: skip
    assert AugmentParams().elastic_px == 0
    g = torch.Generator().manual_seed(0)
    bent = augment_digits(x, AugmentParams(**still, elastic_px=2.5, elastic_prob=1.0), g)
    moved = (bent - x).abs().sum(dim=(1, 2, 3))
    assert (moved > 1.0).all()  # every digit bent
    ink = bent.sum(dim=(1, 2, 3))
    assert ((ink > 0.5 * x[0].sum()) & (ink < 2.0 * x[0].sum())).all()  # stretched, not lost
    # Bent, not torn: no ink lands far from the bar.
    assert bent[:, :, :, :6].sum() == 0 and bent[:, :, :, 22:].sum() == 0
    half = augment_digits(x, AugmentParams(**still, elastic_px=2.5, elastic_prob=0.5), g)
    untouched = ((half - x).abs().sum(dim=(1, 2, 3)) < 1e-3).sum().item()
    assert 4 <= untouched <= 28


def test_stroke_thickness_changes_only_the_chosen_digits():
    """`thickness_prob` of the digits change pen: half of those bolder (a 3x3 maximum),
    half thinner (halfway to a 3x3 minimum, so thin strokes fade, not vanish); the rest
    are untouched."""
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 6:22, 12:15] = 1.0
    still = dict(rotate_deg=0, translate_px=0, scale_min=1, scale_max=1, shear_deg=0)
    out = augment_digits(x, AugmentParams(**still, thickness_prob=0.5),
                         torch.Generator().manual_seed(0))  # fmt: skip
    ink = out.sum(dim=(1, 2, 3)) - x[0].sum()
    bold, thin = ink > 1, ink < -1
    assert 4 <= bold.sum() <= 28 and 4 <= thin.sum() <= 28
    assert torch.allclose(out[~bold & ~thin], x[~bold & ~thin], atol=1e-5)
    assert torch.allclose(out[bold][:, :, 5:23, 11:16], torch.ones(1), atol=1e-5)
    middle = out[thin][:, :, 7:21, 13]  # the bar's centre column stays full ink
    assert torch.allclose(middle, torch.ones(1), atol=1e-5)
    assert torch.allclose(out[thin][:, :, 7:21, 12], torch.full((1,), 0.5), atol=1e-5)


def test_random_erasing_blanks_one_rectangle_in_the_chosen_digits():
    """Off by default; on, each chosen digit loses the ink under one rectangle of at most
    `erase_px` a side, and nothing else changes."""
    x = torch.ones(64, 1, 28, 28)
    still = dict(rotate_deg=0, translate_px=0, scale_min=1, scale_max=1, shear_deg=0,
                 thickness_prob=0)  # fmt: skip
    assert AugmentParams().erase_px == 0
    g = torch.Generator().manual_seed(0)
    out = augment_digits(x, AugmentParams(**still, erase_px=6, erase_prob=0.5), g)
    blank = out[:, 0] < 0.5
    counts = blank.sum(dim=(1, 2))
    assert 16 <= (counts > 0).sum() <= 48 and counts.max() <= 36
    for image in blank[counts > 0]:  # one rectangle: its rows times its columns
        rows, cols = image.any(dim=1).sum(), image.any(dim=0).sum()
        assert image.sum() == rows * cols and rows <= 6 and cols <= 6


def test_augment_reproducible_under_seed():
    x = torch.rand(8, 1, 28, 28)
    a = augment_digits(x, AugmentParams(), torch.Generator().manual_seed(3))
    b = augment_digits(x, AugmentParams(), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_studio_views_are_the_studio_normalisation_and_cached(tmp_path, monkeypatch):
    import src.data as data
    from src.reading.config import SegmentConfig
    from src.reading.normalize import studio_view

    images = torch.zeros(3, 28, 28, dtype=torch.uint8)
    images[0, 4:24, 12:16] = 255  # a thick 1
    images[1, 6:10, 6:22] = 200  # a bar near the top
    images[2, 10:14, 10:14] = 90  # a faint dot
    views = studio_views(images, cache_dir=tmp_path, workers=1)
    assert views.shape == images.shape and views.dtype == torch.uint8
    for image, view in zip(images, views, strict=True):
        assert torch.equal(view, torch.from_numpy(studio_view(image.numpy(), SegmentConfig())))
    assert not torch.equal(views, images)  # refitted and redrawn, not a copy

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(data, "studio_view", fail)
    assert torch.equal(studio_views(images, cache_dir=tmp_path, workers=1), views)
    monkeypatch.undo()
    (cache,) = tmp_path.glob("studio_views_*.pt")
    cache.write_bytes(b"truncated")  # a corrupt cache is rebuilt, not trusted
    assert torch.equal(studio_views(images, cache_dir=tmp_path, workers=1), views)
    # Other settings are other views: a different file.
    studio_views(images, SegmentConfig(stroke_ratio=0.2), cache_dir=tmp_path, workers=1)
    assert len(list(tmp_path.glob("studio_views_*.pt"))) == 2


@pytest.mark.integration
def test_real_mnist_loads_and_verifies(mnist):
    assert mnist.train_images.shape == (55000, 28, 28)
    assert mnist.val_images.shape == (5000, 28, 28)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert torch.bincount(mnist.test_labels).tolist()[:3] == [980, 1135, 1032]
