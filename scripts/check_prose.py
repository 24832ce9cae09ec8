"""Every file path and dotted name of ours that prose mentions must exist.

    python scripts/check_prose.py            (scripts/test.sh runs it beside ruff and mypy)

Prose is a comment (Python's, found with tokenize; a whole-line `#` comment in shell, TOML,
YAML, INI, Makefile and Dockerfile files; a whole-line `--` comment in Lua), a docstring (module,
class or function, found with ast), or a Markdown file: its whole text (code spans and blocks
included) and, apart, the target of each link. The files read are the ones git tracks.

Two kinds of reference are checked:

- A file path: a token with a `/` that ends in `/` or in a known file extension (`.py`, `.md`,
  `.lua`, ...), or whose first part is a file or folder at the top of the repository
  (`tests/support`). It must exist, relative to the repository's root or to the folder of the
  file that names it or any folder above that one (in chats/services.py, `tests/` may be
  chats/tests/; a Markdown link is relative to its file only). A path whose first part
  is not at the top of the repository may also be the end of one (`lua/claim.lua` in prose
  about pipeline/) or a file of an installed package (`kombu/transport/redis.py`).
- A file name alone (`test_services.py`, `claim.lua`), with one of the extensions of the
  repository's code and docs (`.py`, `.md`, `.lua`, `.sh`): some tracked file must have that
  name. `API.md` and `STYLE.md` are the contract and style guide CI provides in ../shared.
- A dotted name that starts with one of our top-level packages (chatapi, core, applications,
  chats, messages_app, search, pipeline, tests, bench, scripts): the longest prefix that is a
  module must be found (its spec, without running it), and each remaining part must be an
  attribute of what comes before it, or a field of a dataclass or annotated class. Resolving an
  attribute imports the module, after django.setup() with chatapi.settings.test.

Left out, because they are not references to this repository's files or code:

- URLs (`scheme://...`) and host names with a path (`github.com/owner/repo`, `docs.x.org/...`);
- absolute paths (`/proc/self/stat`, `/run/mysqld`, `/api/v1/...`: the machine's files and the
  API's routes) and paths leaving the repository (`../shared/API.md`, which CI provides beside
  the clone);
- paths git ignores (`var/test.sqlite3`, `.venv/bin`): they are made at run time;
- tokens with a template or pattern character (`{pN}:drain-later` and other Redis keys,
  `<token>`, `bench/results/*.json`, `$VENV/bin`, `%s`), and a path's `:line` or pytest's
  `::test_name` suffix, which is cut before the check;
- command-line options as paths (`--out=var/x.json`);
- file names alone with another extension (`rows.json`, `history.jsonl`: what a run writes);
- words that are also our packages' names (`search`, `tests`, `core`): only a dotted name
  (`search.tasks`) is checked, not the tail of another project's (`django.core.cache`), nor a
  file name (`search.md`).

Each dangling reference is printed as `path:line: name`; the exit status is 1 if there is any.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = (
    "chatapi",
    "core",
    "applications",
    "chats",
    "messages_app",
    "search",
    "pipeline",
    "tests",
    "bench",
    "scripts",
)

EXTENSIONS = frozenset(
    "py md lua sh json toml ini yml yaml html txt cfg conf png lock sqlite3 log js css rst "
    "pyi".split()
)

# A name with no folder is checked only with these extensions: the repository's code and docs,
# not the files a run writes (rows.json, history.jsonl).
BARE_EXTENSIONS = frozenset({"py", "md", "lua", "sh"})
# Files named without a folder that CI provides beside the clone, in ../shared.
SHARED = frozenset({"API.md", "STYLE.md"})

# Files whose whole-line comments start with "#" or "--" (by suffix, or by name for files
# that have none).
HASH_COMMENT_SUFFIXES = frozenset({".sh", ".toml", ".yml", ".yaml", ".ini", ".conf", ".cfg"})
HASH_COMMENT_NAMES = frozenset({"Makefile", "Dockerfile", "run", ".env.example", ".gitignore"})
DASH_COMMENT_SUFFIXES = frozenset({".lua"})

# A run of characters that a path or dotted name is made of, plus the template and pattern
# characters that disqualify it (checked after the match).
TOKEN = re.compile(r"[\w.\-/{}<>*$%:~@+=]+")
URL = re.compile(r"^[a-zA-Z][\w+.-]*://")
HOST = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
PATTERN_CHARS = frozenset("{}<>*$%~@+=")
DOTTED = re.compile(r"(?<![\w./-])(?:" + "|".join(PACKAGES) + r")(?:\.[A-Za-z_]\w*)+(?![\w/-])")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Prose:
    """A piece of prose: its file, the line its text starts on, and whether links resolve
    relative to the file only (a Markdown link target)."""

    path: Path
    line: int
    text: str
    link: bool = False


@dataclass(frozen=True)
class Dangling:
    path: Path
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name}"


# --- prose ------------------------------------------------------------------------------------


def python_prose(path: Path, source: str) -> Iterator[Prose]:
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield Prose(path, token.start[0], token.string)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            yield Prose(path, body[0].value.lineno, body[0].value.value)


def line_comment_prose(path: Path, source: str, marker: str) -> Iterator[Prose]:
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.lstrip()
        if stripped.startswith(marker) and not stripped.startswith("#!"):
            yield Prose(path, number, stripped[len(marker) :])


def markdown_prose(path: Path, source: str) -> Iterator[Prose]:
    """The whole text (code spans and blocks included), and each link's target apart: a link
    resolves relative to its file only."""
    yield Prose(path, 1, source)
    for match in MARKDOWN_LINK.finditer(source):
        yield Prose(path, source.count("\n", 0, match.start()) + 1, match.group(1), link=True)


def prose_of(path: Path, root: Path) -> Iterator[Prose]:
    relative = path.relative_to(root)
    if path.suffix == ".py":
        yield from python_prose(relative, path.read_text(encoding="utf-8"))
    elif path.suffix == ".md":
        yield from markdown_prose(relative, path.read_text(encoding="utf-8"))
    elif path.suffix in HASH_COMMENT_SUFFIXES or path.name in HASH_COMMENT_NAMES:
        yield from line_comment_prose(relative, path.read_text(encoding="utf-8"), "#")
    elif path.suffix in DASH_COMMENT_SUFFIXES:
        yield from line_comment_prose(relative, path.read_text(encoding="utf-8"), "--")


# --- references -------------------------------------------------------------------------------


def path_candidates(text: str, top_level: frozenset[str]) -> Iterator[tuple[int, str]]:
    """(offset, path) for each token of the text that looks like a path of the repository."""
    for match in TOKEN.finditer(text):
        token = match.group(0)
        if URL.match(token) or token.startswith("-"):
            continue
        # path:line, path::test_name and name:path (python -m x:y, a Celery app:name) keep the
        # part that has a slash.
        parts = [part for part in token.split(":") if "/" in part]
        if not parts and ":" not in token:
            bare = token.rstrip(".,;")
            stem, _, extension = bare.rpartition(".")
            if stem and extension in BARE_EXTENSIONS and not PATTERN_CHARS & set(bare):
                yield match.start(), bare
            continue
        if len(parts) != 1:
            continue
        candidate = parts[0].rstrip(".,;")
        if PATTERN_CHARS & set(candidate) or candidate.startswith("/") or "//" in candidate:
            continue
        first, _, _ = candidate.partition("/")
        if HOST.match(first) and first not in top_level:
            continue
        last = candidate.rstrip("/").rsplit("/", 1)[-1]
        extension = last.rsplit(".", 1)[-1] if "." in last.lstrip(".") else ""
        if candidate.endswith("/") or extension in EXTENSIONS or first in top_level:
            yield match.start(), candidate


def dotted_candidates(text: str) -> Iterator[tuple[int, str]]:
    for match in DOTTED.finditer(text):
        name = match.group(0)
        if name.rsplit(".", 1)[-1] in EXTENSIONS:
            continue
        yield match.start(), name


class Resolver:
    """Answers whether paths and dotted names exist, remembering each answer."""

    def __init__(self, root: Path, tracked: Iterable[str] = ()) -> None:
        self.root = root
        self.tracked = list(tracked)
        self.top_level = frozenset(entry.name for entry in root.iterdir())
        self._names: dict[str, bool] = {}
        self._tails: set[str] | None = None
        self._names_of_files: set[str] | None = None

    def path_exists(self, name: str, prose: Prose, ignored: set[str]) -> bool:
        if "/" not in name:
            if self._names_of_files is None:
                self._names_of_files = {path.rsplit("/", 1)[-1] for path in self.tracked}
            return name in self._names_of_files or name in SHARED
        folder = (self.root / prose.path).parent
        if not ((folder if prose.link else self.root) / name).resolve().is_relative_to(self.root):
            # Outside the repository (../shared/API.md): not ours to check.
            return True
        bases = [folder]
        if not prose.link:
            bases += [base for base in folder.parents if base.is_relative_to(self.root)]
        if any((base / name).exists() for base in bases) or name in ignored:
            return True
        if prose.link:
            return False
        first = name.partition("/")[0]
        if first in self.top_level:
            return False
        return self._tail_exists(name) or self._installed(name)

    def _tail_exists(self, name: str) -> bool:
        """Whether some path of the repository ends with this one (`lua/claim.lua` in prose
        about pipeline/)."""
        if self._tails is None:
            self._tails = set()
            for path in self.tracked:
                parts = path.split("/")
                for start in range(1, len(parts)):
                    self._tails.add("/".join(parts[start:]))
                    self._tails.add("/".join(parts[start:-1]) + "/")
        return name in self._tails

    def _installed(self, name: str) -> bool:
        """Whether the path is in an installed package other than ours
        (`kombu/transport/redis.py`)."""
        first = name.partition("/")[0]
        if not first.isidentifier() or first in PACKAGES:
            return False
        # An imported package's own __path__ first: kombu replaces its module, leaving no spec.
        locations = getattr(sys.modules.get(first), "__path__", None)
        if locations is None:
            try:
                spec = importlib.util.find_spec(first)
            except (ImportError, ValueError):
                return False
            locations = spec.submodule_search_locations if spec else None
        return any((Path(location).parent / name).exists() for location in locations or ())

    def name_exists(self, name: str) -> bool:
        if name not in self._names:
            self._names[name] = self._resolve(name)
        return self._names[name]

    def _resolve(self, name: str) -> bool:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            module = ".".join(parts[:cut])
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                spec = None
            if spec is not None:
                break
        else:
            return False
        if cut == len(parts):
            return True
        try:
            value: object = importlib.import_module(module)
        except Exception:
            # Whatever stops a module importing (ImportError, a settings module missing its
            # environment), what it defines cannot be looked up.
            return False
        for attribute in parts[cut:]:
            if hasattr(value, attribute):
                value = getattr(value, attribute)
            elif attribute in getattr(value, "__dataclass_fields__", {}) or attribute in getattr(
                value, "__annotations__", {}
            ):
                return True  # a field: nothing further to look up on a type
            else:
                return False
        return True


def git_ignored(root: Path, names: Iterable[str]) -> set[str]:
    """The names among these that git ignores, or that lie in a folder git ignores (run-time
    files such as var/node, which need not exist to be named)."""
    # git refuses the whole list if one name leaves the repository (../shared/API.md).
    names = {name for name in names if (root / name).resolve().is_relative_to(root)}
    asked = set(names)
    for name in names:
        parts = name.rstrip("/").split("/")
        asked.update("/".join(parts[:end]) + "/" for end in range(1, len(parts)))
    if not asked:
        return set()
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],  # noqa: S607 - git from PATH
        cwd=root,
        input="\n".join(sorted(asked)),
        capture_output=True,
        text=True,
        check=False,
    )
    ignored = set(result.stdout.split())
    return {
        name
        for name in names
        if name in ignored
        or any(
            "/".join(name.rstrip("/").split("/")[:end]) + "/" in ignored
            for end in range(1, name.count("/") + 1)
        )
    }


def check(root: Path, files: Iterable[Path]) -> list[Dangling]:
    files = list(files)
    resolver = Resolver(root, (path.relative_to(root).as_posix() for path in files))
    pieces = [prose for path in files for prose in prose_of(path, root)]
    paths: list[tuple[Prose, int, str]] = []
    names: list[tuple[Prose, int, str]] = []
    for prose in pieces:
        paths.extend(
            (prose, offset, name)
            for offset, name in path_candidates(prose.text, resolver.top_level)
        )
        if not prose.link:
            names.extend((prose, offset, name) for offset, name in dotted_candidates(prose.text))
    ignored = git_ignored(root, (name for _, _, name in paths))
    dangling = []
    for prose, offset, name in paths:
        if not resolver.path_exists(name, prose, ignored):
            dangling.append(Dangling(prose.path, line_of(prose, offset), name))
    for prose, offset, name in names:
        if not resolver.name_exists(name):
            dangling.append(Dangling(prose.path, line_of(prose, offset), name))
    return sorted(set(dangling), key=lambda item: (str(item.path), item.line, item.name))


def line_of(prose: Prose, offset: int) -> int:
    return prose.line + prose.text.count("\n", 0, offset)


def tracked_files(root: Path) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607 - git from PATH
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [root / name for name in listed.split("\0") if name and (root / name).is_file()]


def django_setup() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.test")
    import django

    django.setup()


def main() -> int:
    django_setup()
    dangling = check(ROOT, tracked_files(ROOT))
    for item in dangling:
        print(item)
    if dangling:
        print(f"{len(dangling)} dangling reference(s) in comments, docstrings and Markdown")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
