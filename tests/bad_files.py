"""Files people and programs send that are not clean drawings: each with what the studio
must answer. Shared by the API tests and the load benchmark.

    for case in write_cases(folder): ...   # case.path, case.text, case.message
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


@dataclass
class Case:
    path: Path
    text: str  # the number the studio must read ("" when there is none)
    message: str  # a piece of the sentence it must answer with ("" when it reads)


def ten(size: tuple[int, int] = (400, 200)) -> Image.Image:
    """A plain "10" in black on white: a bar and an oval."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.line([(w // 4, h // 5), (w // 4, 4 * h // 5)], fill=0, width=max(2, h // 16))
    draw.ellipse([w // 2, h // 5, 3 * w // 4, 4 * h // 5], outline=0, width=max(2, h // 16))
    return image


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> None:
    """A white 1-bit PNG of width x height pixels in about 150 KB: a decompression bomb
    (900 megapixels once decoded), written row by row without ever holding it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte, then 8 pixels a byte
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
    path.write_bytes(png + chunk(b"IEND", b""))


def write_cases(folder: Path) -> list[Case]:
    """Write every case into `folder`; returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []

    def case(name: str, text: str = "", message: str = "") -> Path:
        cases.append(Case(folder / name, text, message))
        return folder / name

    case("not_an_image.png", message="not an image").write_text("hello, I am a text file")
    bomb_png(case("bomb.png", message="image too large: 30000x30000 pixels"))
    Image.new("L", (400, 200), 255).save(case("empty_canvas.png", message="nothing drawn"))
    whole = folder / "whole.png"
    ten().save(whole)
    data = whole.read_bytes()
    whole.unlink()
    case("truncated.png", message="truncated or damaged").write_bytes(data[: len(data) // 2])
    Image.new("L", (1, 1), 255).save(case("one_pixel.png", message="nothing drawn"))
    grey16 = (np.asarray(ten(), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(case("grey16.png", text="10"))
    ten().convert("CMYK").save(case("cmyk.jpg", text="10"))
    frames = [ten().convert("P"), Image.new("L", (400, 200), 255).convert("P")]
    frames[0].save(case("animated.gif", text="10"), save_all=True, append_images=frames[1:])
    case("zero_bytes.png", message="empty (0 bytes)").write_bytes(b"")
    return cases
