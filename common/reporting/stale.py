"""Staleness of result files: did files that affect a paper's results change since the result's commit?

A result that records its ``provenance.sources`` (``{path: git blob id}`` of every repository file
the run imported or read: :func:`common.harness.provenance.source_files`) is **stale** exactly when
one of those files differs at HEAD (or is gone): adding another paper or a new module does not make
it stale, a change to a module it ran does. A change that cannot alter what the file does is no change
(:func:`same_behaviour`): a Python file whose syntax tree is the same once comments and docstrings are
dropped, a YAML file that parses to the same data with the same ``# @package`` line. Older results without
that record fall back to paths: such a result is **stale** when ``git diff --name-only <commit> HEAD``
lists a file under the paths that affect its paper's results (:func:`result_paths`), or when its commit is
unknown or not in this repository's history (then HEAD cannot be shown to produce it). Uncommitted changes
are not looked at: the result file records ``dirty`` for those.

A change shown not to alter some results can be **accepted** for them instead of rerunning them: an entry of
``results/accepted_changes.yaml`` (:func:`load_accepted`) names the file, its blob before and after, the results
it does not cover (``not_for``: config values, e.g. ``{test_ckpt: last}``) and why. A recorded blob is then
current when a chain of applicable entries (each bridged by :func:`same_behaviour`) leads from it to HEAD's blob.
RESULTS.md lists every accepted change with its reason and the results it kept fresh (``accepted_for``).

The recorder keeps every config of the paper (its ``configs/<paper>/`` and ``configs/experiment/<paper>/``
folders). Of those, only the files in the row's own defaults chain can change its composed config — the row's
experiment file and what its ``defaults`` name, followed recursively (:func:`row_config_files`) — so a changed
paper config outside that chain (another row's file, another dataset's settings) does not make the row stale.
Shared groups (``configs/data/``, ``trainer/``, ...) always count.
"""
from __future__ import annotations

import ast
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import yaml

__all__ = ["result_paths", "changed_since", "changed_sources", "stale_reason", "row_config_files", "same_behaviour",
           "ACCEPTED_CHANGES", "load_accepted", "accepted_for"]

ACCEPTED_CHANGES = "results/accepted_changes.yaml"  # under the repository root


def result_paths(paper: str, papers: Sequence[str]) -> tuple[str, ...]:
    """Git pathspecs of the files that affect ``paper``'s results: ``common/`` except
    ``common/reporting/`` (and ``common/claims.py``), ``papers/<paper>/`` except its report and
    claims, ``configs/`` except other papers' configs and the loggers, and ``scripts/reproduce.py``."""
    others = [p for p in papers if p != paper]
    return ("common/", ":(exclude)common/reporting/", ":(exclude)common/claims.py",
            f"papers/{paper}/", f":(exclude)papers/{paper}/report.py", f":(exclude)papers/{paper}/claims.py",
            "configs/", ":(exclude)configs/logger/",
            *[f":(exclude)configs/experiment/{o}/" for o in others], *[f":(exclude)configs/{o}/" for o in others],
            "scripts/reproduce.py")


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)


def changed_since(repo: Path, commit: Optional[str], pathspecs: tuple[str, ...]) -> Optional[tuple[str, ...]]:
    """Files under ``pathspecs`` that differ between ``commit`` and HEAD (sorted), or ``None`` when
    the commit is unknown or not in the history of ``repo`` (or ``repo`` is not a git checkout)."""
    if not commit or commit == "unknown":
        return None
    head = _git(repo, "rev-parse", "HEAD")
    if head.returncode != 0:
        return None
    return _diff(Path(repo), commit, head.stdout.strip(), tuple(pathspecs))


@lru_cache(maxsize=None)
def _diff(repo: Path, commit: str, head: str, pathspecs: tuple[str, ...]) -> Optional[tuple[str, ...]]:
    if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        return None
    diff = _git(repo, "diff", "--name-only", commit, head, "--", *pathspecs)
    if diff.returncode != 0:
        return None
    return tuple(sorted(filter(None, diff.stdout.splitlines())))


@lru_cache(maxsize=None)
def _head_blobs(repo: Path, head: str) -> dict[str, str]:
    """``{path: blob id}`` of every file in the commit ``head``."""
    out = _git(repo, "ls-tree", "-r", "--full-tree", head)
    blobs = {}
    for line in out.stdout.splitlines():
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            blobs[path] = parts[2]
    return blobs


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _normal_form(path: str, text: str):
    """What of ``text`` can affect a run: the docstring-free syntax tree of a ``.py`` file, the data and
    ``# @package`` line of a YAML file; ``None`` for other files (compared byte for byte) or unparsable text."""
    try:
        if path.endswith(".py"):
            return ast.dump(_strip_docstrings(ast.parse(text)))
        if path.endswith((".yaml", ".yml")):
            package = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("# @package")]
            return repr((package, yaml.safe_load(text)))
    except (SyntaxError, ValueError, yaml.YAMLError):
        return None
    return None


@lru_cache(maxsize=None)
def _blob_text(repo: Path, sha: str) -> Optional[str]:
    out = _git(repo, "cat-file", "-p", sha)
    return out.stdout if out.returncode == 0 else None


@lru_cache(maxsize=None)
def same_behaviour(repo: Path, path: str, old_sha: str, new_sha: str) -> bool:
    """Whether the two blobs of ``path`` differ only where a run cannot see it: comments and docstrings of a
    Python file, comments and layout of a YAML file (its ``# @package`` line kept). ``False`` when either blob
    is not in the repository or does not parse."""
    old, new = _blob_text(Path(repo), old_sha), _blob_text(Path(repo), new_sha)
    if old is None or new is None:
        return False
    a, b = _normal_form(path, old), _normal_form(path, new)
    return a is not None and a == b


def _same(repo: Path, path: str, a: str, b: str) -> bool:
    return a == b or same_behaviour(repo, path, a, b)


def changed_sources(repo: Path, sources: dict, result: Optional[dict] = None) -> Optional[tuple[str, ...]]:
    """The recorded source files whose content at HEAD differs (or that HEAD no longer has) other than in
    comments and docstrings (:func:`same_behaviour`) or by changes accepted for ``result``
    (:func:`accepted_for`), sorted; ``None`` when ``repo`` is not a git checkout."""
    head = _git(repo, "rev-parse", "HEAD")
    if head.returncode != 0:
        return None
    blobs = _head_blobs(Path(repo), head.stdout.strip())
    entries = load_accepted(Path(repo)) if result is not None else []
    return tuple(sorted(p for p, sha in sources.items()
                        if p not in blobs or _accepted_path(Path(repo), p, sha, blobs[p], result, entries) is None))


def load_accepted(repo: Path) -> list[dict]:
    """The entries of ``results/accepted_changes.yaml`` (none when the file is absent): each a dict with
    ``path``, ``old`` and ``new`` (git blob ids of ``path``), ``commit`` (the commit that made the change),
    ``not_for`` (config values of the results it does not cover; ``{}``: it covers every result) and ``reason``.
    A malformed entry is an error."""
    f = Path(repo) / ACCEPTED_CHANGES
    if not f.is_file():
        return []
    entries = yaml.safe_load(f.read_text()) or []
    need = {"path", "old", "new", "commit", "not_for", "reason"}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or need - set(e) or not isinstance(e["not_for"], dict):
            raise ValueError(f"{ACCEPTED_CHANGES} entry {i}: needs the keys {sorted(need)} (not_for a mapping), "
                             f"got {e!r}")
    return entries


def _applies(entry: dict, result: dict) -> bool:
    """Whether ``entry`` covers ``result``: not when the result's config has every value of ``not_for``
    (a key the config lacks counts as ``None``)."""
    not_for = entry["not_for"]
    config = result.get("config") or {}
    return not (not_for and all(config.get(k) == v for k, v in not_for.items()))


def _accepted_path(repo: Path, path: str, old: str, head: str, result: Optional[dict],
                   entries: list[dict]) -> Optional[list[dict]]:
    """The entries of a chain for ``path`` that cover ``result`` and lead from blob ``old`` to blob ``head``
    (``[]`` when the two blobs behave the same), or ``None`` when no chain does."""
    todo, seen = [(old, [])], set()
    while todo:
        blob, used = todo.pop()
        if blob in seen:
            continue
        seen.add(blob)
        if _same(repo, path, blob, head):
            return used
        todo += [(e["new"], used + [e]) for e in entries
                 if e["path"] == path and _applies(e, result) and _same(repo, path, blob, e["old"])]
    return None


def accepted_for(result: dict, repo: Path) -> list[dict]:
    """The accepted changes (entries of :func:`load_accepted`) that keep ``result`` fresh: those on the chains
    from its recorded blobs to HEAD's."""
    head = _git(repo, "rev-parse", "HEAD")
    sources = (result.get("provenance") or {}).get("sources") or {}
    if head.returncode != 0 or not sources:
        return []
    blobs, entries = _head_blobs(Path(repo), head.stdout.strip()), load_accepted(Path(repo))
    used = []
    for p, sha in sources.items():
        chain = _accepted_path(Path(repo), p, sha, blobs[p], result, entries) if p in blobs else None
        used += [e for e in chain or [] if e not in used]
    return used


def _defaults(path: Path) -> list[str]:
    """The config names a YAML file's ``defaults`` list points to (``_self_`` and ``override`` entries of
    shared groups left out), as written: ``/group/name`` (from ``configs/``) or ``name`` (beside the file)."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    out = []
    entries = (doc.get("defaults") or []) if isinstance(doc, dict) else []
    for entry in entries:
        if isinstance(entry, str) and entry != "_self_":
            out.append(entry.removeprefix("optional ").strip())
        elif isinstance(entry, dict):  # {group: name} / {override /group: name}: a file of that group
            for k, v in entry.items():
                k = str(k).removeprefix("override ").removeprefix("optional ").strip()
                if isinstance(v, str) and v != "null":
                    out.append(f"{k}/{v}" if k.startswith("/") else f"/{k}/{v}")
    return out


def row_config_files(repo: Path, paper: str, row_id: str) -> set[str]:
    """Repository paths of the row's defaults chain: ``configs/experiment/<paper>/<row>.yaml`` and every config
    its ``defaults`` name, recursively (names resolved as Hydra does: ``/a/b`` from ``configs/``, ``b`` beside
    the naming file)."""
    root = Path(repo) / "configs"
    todo, seen = [root / "experiment" / paper / f"{row_id}.yaml"], set()
    while todo:
        f = todo.pop()
        if f in seen or not f.is_file():
            continue
        seen.add(f)
        for name in _defaults(f):
            base = root / name.lstrip("/") if name.startswith("/") else f.parent / name
            todo.append(base.with_suffix(".yaml") if base.suffix != ".yaml" else base)
    return {f.relative_to(Path(repo)).as_posix() for f in seen}


def _outside_row_chain(changed: tuple, result: dict, repo: Path) -> tuple:
    """``changed`` less the paper's own configs that are not in the row's defaults chain."""
    paper, row = result.get("paper"), (result.get("row") or {}).get("id")
    if not paper or not row:
        return changed
    own = (f"configs/{paper}/", f"configs/experiment/{paper}/")
    chain = row_config_files(Path(repo), paper, row)
    return tuple(f for f in changed if not f.startswith(own) or f in chain)


def stale_reason(result: dict, papers: Sequence[str], repo: Path) -> str:
    """Why ``result`` is stale ("" when HEAD's code for its paper equals the code that produced it)."""
    prov = result.get("provenance") or {}
    commit = (prov.get("git") or {}).get("commit")
    if prov.get("sources"):
        changed = changed_sources(Path(repo), prov["sources"], result)
        if changed is None:
            return "not in a git checkout: its source files cannot be compared with HEAD"
    else:
        changed = changed_since(Path(repo), commit, result_paths(result["paper"], tuple(papers)))
    if changed is None:
        return f"its commit ({commit or 'unknown'}) is not in this repository's history"
    changed = _outside_row_chain(changed, result, Path(repo))
    if not changed:
        return ""
    shown = ", ".join(f"`{f}`" for f in changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return f"{len(changed)} file(s) that affect it changed since {(commit or 'its run')[:10]}: {shown}"
