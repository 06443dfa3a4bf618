"""A fast, bounds-checked walk over a GGUF header, before any native library sees the file.

`gguf.GGUFReader` materialises every array (about 11 s for a 262k-token
vocabulary); this walker only skips over arrays, checks every length against
the file size, and checks that every tensor's data lies inside the file.
Verdicts are cached by (path, size, mtime).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import InvalidModelFile

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_COUNT = 10_000_000
DEFAULT_ALIGNMENT = 32

# GGUF value types -> fixed byte size (None: string or array).
_SCALAR_FORMATS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_TOKENS_KEY = "tokenizer.ggml.tokens"
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")


@dataclass
class GgufHeader:
    """What the header says: version, counts, scalar metadata, and the data extent."""

    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    parameter_count: int = 0
    bos_token: str = ""
    eos_token: str = ""

    @property
    def architecture(self) -> str:
        """`general.architecture`, e.g. "gemma3"."""
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def chat_template(self) -> Optional[str]:
        """`tokenizer.chat_template`, if the file carries one."""
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None

    @property
    def bos_token_id(self) -> Optional[int]:
        """`tokenizer.ggml.bos_token_id`, if set."""
        return _int_or_none(self.metadata.get("tokenizer.ggml.bos_token_id"))

    @property
    def eos_token_id(self) -> Optional[int]:
        """`tokenizer.ggml.eos_token_id`, if set."""
        return _int_or_none(self.metadata.get("tokenizer.ggml.eos_token_id"))

    @property
    def add_bos(self) -> bool:
        """Whether a prompt starts with BOS: `tokenizer.ggml.add_bos_token`, else llama.cpp's default.

        Without the key: llama.cpp's default for SentencePiece vocabularies ("llama") is to add
        one; for the others (e.g. "gpt2" BPE) this says no, as llama.cpp does for most of them
        (a few BPE pre-tokenizers, such as llama3's, default to yes; their files carry the key).
        """
        value = self.metadata.get("tokenizer.ggml.add_bos_token")
        if isinstance(value, bool):
            return value
        return self.metadata.get("tokenizer.ggml.model") == "llama" and bool(self.bos_token)

    @property
    def quantization(self) -> str:
        """`general.file_type` as llama.cpp names it, e.g. "Q4_K_M"; "unknown" if absent."""
        from gguf.constants import LlamaFileType

        try:
            return LlamaFileType(int(self.metadata["general.file_type"])).name.removeprefix("MOSTLY_")
        except (KeyError, ValueError, TypeError):
            return "unknown"

    @property
    def trained_context_length(self) -> Optional[int]:
        """`<arch>.context_length`: the context the model was trained with."""
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None


def _int_or_none(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


class _Cursor:
    """Reads little-endian values from a buffer, raising on any read past the end."""

    def __init__(self, buf: mmap.mmap | bytes, size: int) -> None:
        self.buf, self.size, self.pos = buf, size, 0
        self.tokens_at: Optional[tuple[int, int]] = None  # (position, count) of the vocabulary

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _Truncated(f"{what} at byte {self.pos} runs past the end of the file ({self.size} bytes)")

    def u32(self, what: str) -> int:
        self.need(4, what)
        (value,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return value

    def u64(self, what: str) -> int:
        self.need(8, what)
        (value,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return value

    def string(self, what: str) -> str:
        length = self.u64(f"{what} length")
        self.need(length, what)
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Truncated(f"{what} at byte {self.pos - length} is not valid UTF-8") from None

    def skip_strings(self, count: int, what: str) -> None:
        unpack, buf, pos = _U64.unpack_from, self.buf, self.pos
        try:
            for _ in range(count):
                pos += 8 + unpack(buf, pos)[0]
        except struct.error:
            raise _Truncated(f"{what} runs past the end of the file ({self.size} bytes)") from None
        self.pos = pos
        self.need(0, what)

    def scalar(self, value_type: int, what: str) -> Any:
        fmt = _SCALAR_FORMATS[value_type]
        width = struct.calcsize(fmt)
        self.need(width, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += width
        return value


class _Truncated(Exception):
    pass


def _check_count(count: int, what: str) -> int:
    if count > MAX_COUNT:
        raise _Truncated(f"{what} is {count}, which is not plausible (corrupted header)")
    return count


def _read_value(cur: _Cursor, value_type: int, key: str) -> Any:
    if value_type in _SCALAR_FORMATS:
        return cur.scalar(value_type, f"value of {key}")
    if value_type == _STRING:
        return cur.string(f"value of {key}")
    if value_type == _ARRAY:
        item_type = cur.u32(f"array type of {key}")
        count = cur.u64(f"array length of {key}")
        if key == _TOKENS_KEY and item_type == _STRING:
            cur.tokens_at = (cur.pos, count)
        _skip_array(cur, item_type, count, key)
        return None
    raise _Truncated(f"metadata {key!r} has unknown value type {value_type}")


def _skip_array(cur: _Cursor, item_type: int, count: int, key: str) -> None:
    if item_type in _SCALAR_FORMATS:
        width = struct.calcsize(_SCALAR_FORMATS[item_type])
        cur.need(count * width, f"array {key}")
        cur.pos += count * width
    elif item_type == _STRING:
        cur.need(count * 8, f"array {key}")
        cur.skip_strings(count, f"array {key}")
    elif item_type == _ARRAY:
        for _ in range(_check_count(count, f"nested array length of {key}")):
            _read_value(cur, _ARRAY, key)
    else:
        raise _Truncated(f"array {key!r} has unknown item type {item_type}")


def _tensor_nbytes(ggml_type: int, dims: list[int], name: str) -> int:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block_size, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        raise _Truncated(f"tensor {name!r} has unknown type {ggml_type}") from None
    return _elements(dims) // block_size * type_size


def _elements(dims: list[int]) -> int:
    elements = 1
    for dim in dims:
        elements *= dim
    return elements


def _token_text(cur: _Cursor, token_id: Optional[int]) -> str:
    """The vocabulary entry `token_id` (e.g. "<bos>", "<|im_start|>"); "" if there is none."""
    if cur.tokens_at is None or token_id is None or not 0 <= token_id < cur.tokens_at[1]:
        return ""
    saved, cur.pos = cur.pos, cur.tokens_at[0]
    try:
        cur.skip_strings(token_id, "vocabulary")
        return cur.string(f"token {token_id}")
    finally:
        cur.pos = saved


def _walk(buf: mmap.mmap | bytes, size: int, path: Path) -> GgufHeader:
    cur = _Cursor(buf, size)
    cur.need(4, "magic")
    if bytes(buf[0:4]) != GGUF_MAGIC:
        raise _Truncated("it does not start with the GGUF magic bytes (is it a GGUF model?)")
    cur.pos = 4
    version = cur.u32("version")
    if version not in SUPPORTED_VERSIONS:
        raise _Truncated(f"GGUF version {version} is not supported (expected 2 or 3)")
    tensor_count = _check_count(cur.u64("tensor count"), "tensor count")
    kv_count = _check_count(cur.u64("metadata count"), "metadata count")
    header = GgufHeader(path=path, version=version, tensor_count=tensor_count)
    for _ in range(kv_count):
        key = cur.string("metadata key")
        value = _read_value(cur, cur.u32(f"type of {key}"), key)
        if value is not None:
            header.metadata[key] = value
    tensors = []
    for _ in range(tensor_count):
        name = cur.string("tensor name")
        n_dims = cur.u32(f"dimension count of {name}")
        if n_dims > 8:
            raise _Truncated(f"tensor {name!r} claims {n_dims} dimensions (corrupted header)")
        dims = [cur.u64(f"dimension of {name}") for _ in range(n_dims)]
        ggml_type = cur.u32(f"type of {name}")
        offset = cur.u64(f"offset of {name}")
        tensors.append((name, offset, _tensor_nbytes(ggml_type, dims, name)))
        header.parameter_count += _elements(dims)
    header.bos_token = _token_text(cur, header.bos_token_id)
    header.eos_token = _token_text(cur, header.eos_token_id)
    alignment = int(header.metadata.get("general.alignment", DEFAULT_ALIGNMENT)) or DEFAULT_ALIGNMENT
    data_start = -(-cur.pos // alignment) * alignment
    for name, offset, nbytes in tensors:
        end = data_start + offset + nbytes
        if end > size:
            raise _Truncated(f"tensor {name!r} ends at byte {end}, past the end of the file ({size} bytes)")
    return header


_VERDICTS: dict[tuple[str, int, int], GgufHeader] = {}


def read_gguf_header(path: Path) -> GgufHeader:
    """Validate a GGUF file's header and tensor extents; raise `InvalidModelFile` if broken.

    The verdict for a valid file is cached by (path, size, mtime).
    """
    path = Path(path)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key in _VERDICTS:
            return _VERDICTS[key]
        if stat.st_size == 0:
            raise InvalidModelFile(f"{path} is empty (0 bytes): download or copy the model again")
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            header = _walk(buf, stat.st_size, path)
    except PermissionError:
        raise InvalidModelFile(f"{path} cannot be read (permission denied): fix its permissions (chmod +r)") from None
    except IsADirectoryError:
        raise InvalidModelFile(f"{path} is a folder, not a .gguf file") from None
    except _Truncated as exc:
        raise InvalidModelFile(f"{path} is not a valid GGUF model: {exc}") from None
    except OSError as exc:
        raise InvalidModelFile(f"{path} cannot be read: {exc.strerror or exc}") from None
    _VERDICTS[key] = header
    return header
