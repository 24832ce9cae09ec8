"""scripts/check_prose.py: the paths and dotted names in comments, docstrings and Markdown.

Each test writes a small repository (a git work tree in tmp_path, so that git's ignore rules
apply) and checks it; dotted names resolve against this project's real modules.
"""

import subprocess
from pathlib import Path

from scripts.check_prose import Dangling, check


def repository(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return [tmp_path / name for name in files]


def dangling(tmp_path: Path, files: dict[str, str]) -> list[str]:
    return [str(item) for item in check(tmp_path, repository(tmp_path, files))]


def test_a_missing_path_and_a_missing_name_in_a_comment_and_a_docstring_are_reported(tmp_path):
    module = (
        '"""Numbers come from pipeline.numbering.no_such_allocator; see app/gone.py."""\n'
        "\n"
        "\n"
        "def f():\n"
        '    """Raises core.errors.NoSuchError."""\n'
        "    # The layout is in app/old/keys.py and the script in lua/missing.lua.\n"
        "    return 1\n"
    )

    found = dangling(tmp_path, {"app/mod.py": module})

    assert found == [
        "app/mod.py:1: app/gone.py",
        "app/mod.py:1: pipeline.numbering.no_such_allocator",
        "app/mod.py:5: core.errors.NoSuchError",
        "app/mod.py:6: app/old/keys.py",
        "app/mod.py:6: lua/missing.lua",
    ]


def test_real_paths_names_and_fields_are_accepted(tmp_path):
    module = (
        '"""See app/mod.py, app/, tests/test_mod.py (beside it), README.md and'
        " pipeline.numbering.message_number_allocate.\n"
        "\n"
        "Errors: core.errors.NotFound; a field: pipeline.numbering.Allocation.partition;"
        " a module: chatapi.settings.production (found, not run).\n"
        '"""\n'
        "# Kombu's side: kombu/transport/redis.py. The route /api/v1/apps/ is not a file.\n"
        "# Run-time files: var/node/bin/newman. The contract: ../shared/API.md and API.md.\n"
        "# A Redis key {pN}:drain-later, a page https://example.com/a/b.py, a host"
        " github.com/x/y.py.\n"
        "# Not ours: django.core.cache, an option --out=app/none.py, a run's rows.json.\n"
    )
    files = {
        ".gitignore": "/var/\n",
        "README.md": "# R\n",
        "app/mod.py": module,
        "app/tests/test_mod.py": "",
    }

    assert dangling(tmp_path, files) == []


def test_markdown_text_code_and_links_are_checked_and_links_are_relative(tmp_path):
    doc = (
        "# Title\n"
        "Plain text names docs/gone.md and app/mod.py:12 (a line), app/mod.py::test_x.\n"
        "The code is in `app/mod.py` and `app/gone.py`; the names `pipeline.keys`\n"
        "and `pipeline.keys.no_such_key`. See [the other page](other.md),\n"
        "[a missing page](missing.md) and [the site](https://example.com/docs/x.md).\n"
        "\n"
        "```\n"
        "python app/mod.py --out var/x.json\n"
        "python app/nothing.py\n"
        "```\n"
    )
    files = {
        ".gitignore": "/var/\n",
        "app/mod.py": "",
        "docs/page.md": doc,
        "docs/other.md": "",
    }

    assert check(tmp_path, repository(tmp_path, files)) == [
        Dangling(Path("docs/page.md"), 2, "docs/gone.md"),
        Dangling(Path("docs/page.md"), 3, "app/gone.py"),
        Dangling(Path("docs/page.md"), 4, "pipeline.keys.no_such_key"),
        Dangling(Path("docs/page.md"), 5, "missing.md"),
        Dangling(Path("docs/page.md"), 9, "app/nothing.py"),
    ]


def test_shell_and_lua_comments_are_checked(tmp_path):
    files = {
        "run.sh": "#!/bin/sh\n# Starts app/server.py.\necho app/not_a_comment.py\n",
        "claim.lua": "-- Called by pipeline.numbering.no_such_caller.\nlocal x = 1\n",
    }

    assert dangling(tmp_path, files) == [
        "claim.lua:1: pipeline.numbering.no_such_caller",
        "run.sh:2: app/server.py",
    ]
