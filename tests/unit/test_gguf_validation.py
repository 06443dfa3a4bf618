"""Broken model files are refused by the header walker before a native library sees them."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xybrid_notebook.errors import InvalidModelFile, ModelNotFound
from xybrid_notebook.gguf_header import read_gguf_header
from xybrid_notebook.models import resolve_model


def _copy_prefix(source: Path, target: Path, size: int) -> Path:
    with source.open("rb") as src, target.open("wb") as dst:
        remaining = size
        while remaining > 0:
            block = src.read(min(remaining, 1 << 22))
            if not block:
                break
            dst.write(block)
            remaining -= len(block)
    return target


def _patched(source: Path, target: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(source.read_bytes())
    raw[offset : offset + len(data)] = data
    target.write_bytes(bytes(raw))
    return target


def broken_files(model_path: Path, tmp: Path) -> dict[str, Path]:
    """Every kind of broken model file the reliability issue lists."""
    size = model_path.stat().st_size
    text = tmp / "notes.gguf"
    text.write_text("this is a text file, not a model\n" * 40)
    empty = tmp / "empty.gguf"
    empty.write_bytes(b"")
    first_tensor = _tensor_info_start(model_path)
    files = {
        "text renamed .gguf": text,
        "zero bytes": empty,
        "truncated at 1 KiB": _copy_prefix(model_path, tmp / "t1k.gguf", 1024),
        "truncated at header end": _copy_prefix(model_path, tmp / "thead.gguf", first_tensor + 64),
        "truncated at half": _copy_prefix(model_path, tmp / "thalf.gguf", size // 2),
        "corrupted tensor count": _patched(model_path, tmp / "tcount.gguf", 8, struct.pack("<Q", 2**40)),
        "corrupted string length": _patched(model_path, tmp / "slen.gguf", 24, struct.pack("<Q", 2**50)),
    }
    return files


def _tensor_info_start(model_path: Path) -> int:
    """Byte offset of the first tensor info (end of the metadata key/values)."""
    from xybrid_notebook import gguf_header as walker

    data = model_path.read_bytes()[: 16 << 20]
    cursor = walker._Cursor(data, len(data))
    cursor.pos = 16
    kv_count = cursor.u64("kv")
    for _ in range(kv_count):
        key = cursor.string("key")
        walker._read_value(cursor, cursor.u32("type"), key)
    return cursor.pos


@pytest.mark.slow
def test_every_broken_file_is_one_clear_error(model_path: Path, tmp_path: Path) -> None:
    for label, path in broken_files(model_path, tmp_path).items():
        with pytest.raises(InvalidModelFile) as info:
            read_gguf_header(path)
        message = str(info.value)
        assert "\n" not in message and str(path) in message, label


CHECK_AS_USER = """
import sys
from xybrid_notebook.errors import InvalidModelFile
from xybrid_notebook.gguf_header import read_gguf_header
try:
    read_gguf_header(sys.argv[1])
except InvalidModelFile as exc:
    print(exc)
"""


def test_unreadable_file_says_permission(tmp_path: Path) -> None:
    locked = tmp_path / "locked.gguf"
    locked.write_bytes(b"GGUF")
    locked.chmod(0)
    tmp_path.chmod(0o755)
    if os.geteuid() != 0:
        with pytest.raises(InvalidModelFile, match="permission"):
            read_gguf_header(locked)
        return
    # root reads anything: check without the capabilities that let it (util-linux setpriv)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    result = subprocess.run(
        [*drop, sys.executable, "-c", CHECK_AS_USER, str(locked)], capture_output=True, text=True, timeout=60
    )
    assert "permission denied" in result.stdout, result.stderr[-2000:]


def test_missing_paths_and_folders(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no model at"):
        resolve_model(tmp_path / "nope.gguf")
    with pytest.raises(ModelNotFound, match="holds no .gguf"):
        resolve_model(tmp_path)
    (tmp_path / "a.gguf").write_bytes(b"x")
    (tmp_path / "b.gguf").write_bytes(b"x")
    with pytest.raises(ModelNotFound, match="holds 2 .gguf files"):
        resolve_model(tmp_path)


def test_folder_with_one_model_resolves_to_it(tmp_path: Path) -> None:
    (tmp_path / "only.gguf").write_bytes(b"x")
    assert resolve_model(tmp_path) == tmp_path / "only.gguf"


def test_valid_header_is_read_fast_and_cached(model_path: Path) -> None:
    header = read_gguf_header(model_path)
    assert header.architecture == "gemma3" and header.tensor_count > 0
    assert header.trained_context_length == 32768
    start = time.perf_counter()
    assert read_gguf_header(model_path) is header  # cached by (path, size, mtime)
    assert time.perf_counter() - start < 0.05


LOAD_SCRIPT = """
import sys
from xybrid_notebook import create_backend, LlmConfig, XybridError
try:
    create_backend(sys.argv[1]).load(LlmConfig(sys.argv[2]))
except XybridError as exc:
    print("REFUSED", type(exc).__name__)
    sys.exit(0)
print("LOADED")
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["llama-cpp", "mistralrs"])
def test_broken_files_never_crash_a_process(model_path: Path, tmp_path: Path, backend: str) -> None:
    for label, path in broken_files(model_path, tmp_path).items():
        result = subprocess.run(
            [sys.executable, "-c", LOAD_SCRIPT, backend, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert result.returncode == 0, f"{label}: exit {result.returncode}\n{result.stderr[-2000:]}"
        assert "REFUSED InvalidModelFile" in result.stdout, label
