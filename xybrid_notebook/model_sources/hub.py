"""Hugging Face Hub references through `huggingface_hub`: its cache, `HF_TOKEN`, `HF_ENDPOINT` and `HF_HUB_OFFLINE`.

A reference the cache can answer (the repo's `main` snapshot holds the file, every part of
a split) never touches the network. Otherwise the repo's file list picks the file, and each
file is fetched by the library's `http_get` into `<blob>.xybrid-partial` next to the cache's
blob, resumed from there after an interrupt (huggingface_hub >= 1.18 deletes its own partial
file when a download fails), and renamed to the blob only once complete: `hf_hub_download`
then links it into the snapshot. So no partial file is ever loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from ..errors import ModelNotFound, ModelUnreachable
from .quant import GgufGroup, gguf_groups, pick_file, pick_group, split_names
from .refs import HubRef

PARTIAL_SUFFIX = ".xybrid-partial"
Say = Callable[[str], None]


def hub_cache() -> Path:
    """The Hub cache folder huggingface_hub uses (`HF_HUB_CACHE`, else `HF_HOME/hub`)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    """True under `HF_HUB_OFFLINE=1` (as huggingface_hub read it)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    """The Hub's address (`HF_ENDPOINT`, else huggingface.co)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def cached_snapshots() -> dict[str, tuple[Path, dict[str, int]]]:
    """Each cached model repo -> its `main` snapshot (else its newest) and its files (relative path -> bytes).

    Only complete files are linked into a snapshot: a download in progress is not there.
    """
    from huggingface_hub import scan_cache_dir

    if not hub_cache().is_dir():
        return {}
    found = {}
    for info in scan_cache_dir(hub_cache()).repos:
        if info.repo_type != "model" or not info.revisions:
            continue
        revision = max(info.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        files = {str(f.file_path.relative_to(revision.snapshot_path)): f.size_on_disk for f in revision.files}
        found[info.repo_id] = (revision.snapshot_path, files)
    return found


def cached_snapshot(repo: str) -> Optional[tuple[Path, dict[str, int]]]:
    """The cached snapshot of `repo` and its files, if it is in the cache."""
    return cached_snapshots().get(repo)


def _choose(groups: list[GgufGroup], ref: HubRef, where: str) -> GgufGroup:
    return pick_file(groups, ref.filename, where) if ref.filename else pick_group(groups, ref.quant, where)


def from_cache(ref: HubRef) -> Optional[Path]:
    """The cached file `ref` names (the first part of a split), with no network; None if it is not all there."""
    found = cached_snapshot(ref.repo)
    if found is None:
        return None
    snapshot, files = found
    try:
        group = _choose(gguf_groups(files), ref, ref.repo)
    except ModelNotFound:
        return None
    return snapshot / group.first


def _token_state() -> str:
    from huggingface_hub import get_token

    if get_token() is None:
        return "no token is set: set HF_TOKEN"
    return "the token set (HF_TOKEN or the saved login) has no access to it"


def _is_transport_error(exc: BaseException) -> bool:
    """A connection, timeout or protocol failure from the HTTP library huggingface_hub uses (httpx or httpx2)."""
    return any(
        cls.__name__ == "TransportError" and cls.__module__.split(".")[0] in ("httpx", "httpx2")
        for cls in type(exc).__mro__
    )


@contextmanager
def hub_errors(ref: HubRef) -> Iterator[None]:
    """Turn the library's errors into one line each (never showing a token)."""
    from huggingface_hub import errors

    name = ref.name()
    try:
        yield
    except errors.GatedRepoError:
        raise ModelUnreachable(
            f"{ref.repo} is a gated repo: accept its terms on the Hub, then use a token with access ({_token_state()})"
        ) from None
    except errors.RepositoryNotFoundError:
        raise ModelNotFound(
            f"no repo {ref.repo} on the Hub ({endpoint()}) for {name}, nor such a local file: "
            "check the name (a private repo needs HF_TOKEN)"
        ) from None
    except errors.RevisionNotFoundError:
        raise ModelNotFound(f"{ref.repo} has no revision main on the Hub ({endpoint()})") from None
    except errors.LocalEntryNotFoundError:
        raise ModelUnreachable(_unreachable_message(ref, "no answer")) from None
    except errors.EntryNotFoundError:
        raise ModelNotFound(f"{ref.repo} has no file {ref.filename} on the Hub ({endpoint()})") from None
    except errors.OfflineModeIsEnabled:
        raise ModelUnreachable(_offline_message(ref)) from None
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "an error"
        raise ModelUnreachable(f"the Hub ({endpoint()}) answered {status} for {ref.repo}: try again later") from None
    except OSError as exc:  # a download cut short after the library's retries, a full disk
        reason = exc.strerror or str(exc).splitlines()[0]
        raise ModelUnreachable(f"the download of {name} stopped ({reason}): load it again to resume") from None
    except Exception as exc:
        if not _is_transport_error(exc):
            raise
        raise ModelUnreachable(_unreachable_message(ref, type(exc).__name__)) from None


def _unreachable_message(ref: HubRef, reason: str) -> str:
    return (
        f"cannot reach the Hub at {endpoint()} for {ref.name()} ({reason}): check the network or HF_ENDPOINT; "
        "a model already in the cache loads offline"
    )


def _offline_message(ref: HubRef) -> str:
    return f"{ref.name()} is not in the Hugging Face cache ({hub_cache()}) and HF_HUB_OFFLINE=1 forbids downloading it"


def _repo_files(ref: HubRef) -> dict[str, int]:
    """Every file of the repo's `main` with its size, from the Hub's model info."""
    from huggingface_hub import HfApi

    info = HfApi().model_info(ref.repo, files_metadata=True)
    return {s.rfilename: int(s.size or 0) for s in info.siblings or []}


def _file_types(files: dict[str, int]) -> str:
    counts: dict[str, int] = {}
    for name in files:
        suffix = Path(name).suffix or Path(name).name
        counts[suffix] = counts.get(suffix, 0) + 1
    return ", ".join(f"{suffix} ×{n}" if n > 1 else suffix for suffix, n in sorted(counts.items())) or "no files"


def progress_bar_class() -> Optional[type]:
    """`tqdm.auto`'s bar: a notebook bar in Jupyter, a plain one elsewhere (bytes, rate, ETA), shown even when
    the output is not a terminal; None (no bar) under `HF_HUB_DISABLE_PROGRESS_BARS=1`."""
    from huggingface_hub.utils import are_progress_bars_disabled
    from tqdm.auto import tqdm

    return None if are_progress_bars_disabled() else tqdm


def _download_blob(meta: Any, blob: Path, filename: str) -> None:
    """Fetch the file into `<blob>.xybrid-partial`, resuming what is there, and rename it to the blob when whole."""
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import WeakFileLock, build_hf_headers

    blob.parent.mkdir(parents=True, exist_ok=True)
    partial = blob.with_name(blob.name + PARTIAL_SUFFIX)
    locks = hub_cache() / ".locks" / blob.parent.parent.name
    locks.mkdir(parents=True, exist_ok=True)
    with WeakFileLock(locks / f"{blob.name}.xybrid.lock"):
        if blob.exists():
            return
        with partial.open("ab") as handle:
            done = handle.tell()
            if meta.size is not None and done > meta.size:
                handle.truncate(0)
                done = 0
            http_get(
                meta.location,
                handle,
                resume_size=done,
                headers=build_hf_headers(),
                expected_size=meta.size,
                displayed_filename=Path(filename).name,
                tqdm_class=progress_bar_class(),
            )
        if meta.size is not None and partial.stat().st_size != meta.size:
            raise ModelUnreachable(f"the download of {filename} ended short: load it again to resume")
        os.replace(partial, blob)


def _fetch(repo: str, filename: str) -> Path:
    """One file into the cache (resumable), linked into the `main` snapshot; its snapshot path."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.file_download import repo_folder_name

    meta = get_hf_file_metadata(hf_hub_url(repo, filename))
    if meta.etag is None:
        raise ModelUnreachable(f"the Hub ({endpoint()}) gave no ETag for {repo}/{filename}: cannot cache it")
    blob = hub_cache() / repo_folder_name(repo_id=repo, repo_type="model") / "blobs" / meta.etag
    if not blob.exists():
        _download_blob(meta, blob, filename)
    return Path(hf_hub_download(repo, filename))


def partial_bytes(repo: str) -> int:
    """Bytes waiting in unfinished downloads of `repo` (for the line after an interrupt)."""
    from huggingface_hub.file_download import repo_folder_name

    blobs = hub_cache() / repo_folder_name(repo_id=repo, repo_type="model") / "blobs"
    return sum(p.stat().st_size for p in blobs.glob(f"*{PARTIAL_SUFFIX}")) if blobs.is_dir() else 0


def remote_choice(ref: HubRef) -> GgufGroup:
    """The file(s) `ref` picks from the Hub's listing, without downloading them."""
    if offline():
        raise ModelUnreachable(_offline_message(ref))
    with hub_errors(ref):
        files = _repo_files(ref)
        groups = gguf_groups(files)
        if not groups:
            raise ModelNotFound(f"{ref.repo} has no GGUF file (it has {_file_types(files)}): pick a GGUF repo")
        return _choose(groups, ref, ref.repo)


def resolve_hub(ref: HubRef, say: Say) -> Path:
    """The local path of the GGUF `ref` names (the first part of a split): from the cache, else downloaded."""
    cached = from_cache(ref)
    if cached is not None:
        return cached
    group = remote_choice(ref)
    with hub_errors(ref):
        say(f"Downloading {ref.repo}/{group.first} ({group.size / 1e6:.0f} MB) into {hub_cache()}…")
        paths = [_fetch(ref.repo, name) for name in split_names(group.first)]
    say(f"Cached at {paths[0]}")
    return paths[0]
