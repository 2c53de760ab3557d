"""A reader of TensorBoard event files written from the documented format alone (no tensorboard
package): TFRecord framing (uint64 length, masked CRC32C of the length, data, masked CRC32C of the
data; little endian) and the protocol-buffer wire format of tensorflow.Event {wall_time = 1,
step = 2, file_version = 3, summary = 5}, Summary {value = 1}, Value {tag = 1, simple_value = 2,
image = 4}, Image {height = 1, width = 2, colorspace = 3, encoded_image_string = 4}.

read(path) -> list of events: {"wall_time", "step", "file_version" or None,
                               "scalars": {tag: value}, "images": {tag: (height, width, channels, png)}}
Raises ValueError on a bad CRC or a truncated record."""
import struct

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def fields(buf):
    """(field number, wire type, value) of a message: ints, 8/4-byte raw values, bytes."""
    pos = 0
    def varint():
        nonlocal pos
        v = shift = 0
        while True:
            b = buf[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while pos < len(buf):
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            yield num, wire, varint()
        elif wire == 1:
            yield num, wire, buf[pos:pos + 8]
            pos += 8
        elif wire == 5:
            yield num, wire, buf[pos:pos + 4]
            pos += 4
        elif wire == 2:
            n = varint()
            yield num, wire, buf[pos:pos + n]
            pos += n
        else:
            raise ValueError(f"wire type {wire}")


def event(data):
    ev = {"wall_time": None, "step": 0, "file_version": None, "scalars": {}, "images": {}}
    for num, _, v in fields(data):
        if num == 1:
            ev["wall_time"] = struct.unpack("<d", v)[0]
        elif num == 2:
            ev["step"] = v
        elif num == 3:
            ev["file_version"] = v.decode()
        elif num == 5:
            for vnum, _, value in fields(v):
                assert vnum == 1
                tag, scalar, image = None, None, None
                for fnum, _, f in fields(value):
                    if fnum == 1:
                        tag = f.decode()
                    elif fnum == 2:
                        scalar = struct.unpack("<f", f)[0]
                    elif fnum == 4:
                        im = dict((n, x) for n, _, x in fields(f))
                        image = (im[1], im[2], im[3], im[4])
                if scalar is not None:
                    ev["scalars"][tag] = scalar
                if image is not None:
                    ev["images"][tag] = image
    return ev


def read(path):
    raw, pos, out = open(path, "rb").read(), 0, []
    while pos < len(raw):
        if pos + 12 > len(raw):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        (n,) = struct.unpack("<Q", raw[pos:pos + 8])
        if struct.unpack("<I", raw[pos + 8:pos + 12])[0] != masked(raw[pos:pos + 8]):
            raise ValueError(f"{path}: bad length CRC at byte {pos}")
        data = raw[pos + 12:pos + 12 + n]
        if len(data) != n or pos + 16 + n > len(raw):
            raise ValueError(f"{path}: truncated record at byte {pos}")
        if struct.unpack("<I", raw[pos + 12 + n:pos + 16 + n])[0] != masked(data):
            raise ValueError(f"{path}: bad data CRC at byte {pos}")
        out.append(event(data))
        pos += 16 + n
    return out
