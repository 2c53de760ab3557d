"""A small PNG decoder for tests (Python's zlib only, independent of the C writer): 8-bit gray or
RGB, no interlace, every chunk's CRC-32 checked, filter types 0-4 undone.
read(path) -> (width, height, channels, rows) with rows a list of bytes objects (HWC)."""
import struct
import zlib


def read(path):
    raw = open(path, "rb").read()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(raw):
        (n,) = struct.unpack(">I", raw[pos:pos + 4])
        kind, body = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", raw[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind}"
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, color, _, _, interlace = ihdr
    assert depth == 8 and color in (0, 2) and interlace == 0, ihdr
    c = 1 if color == 0 else 3
    data, stride, rows, prev = zlib.decompress(idat), w * c, [], bytearray(w * c)
    for y in range(h):
        f, line = data[y * (stride + 1)], bytearray(data[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - c] if i >= c else 0
            b, cc = prev[i], prev[i - c] if i >= c else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - cc
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else cc)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, c, rows


def tile(png, k, cols, size, pad=2):
    """Tile k (row-major, cols per row) of a grid with pad pixels between and around the tiles."""
    w, h, c, rows = png
    y0, x0 = pad + (k // cols) * (size + pad), pad + (k % cols) * (size + pad)
    return b"".join(rows[y0 + y][x0 * c:(x0 + size) * c] for y in range(size))
