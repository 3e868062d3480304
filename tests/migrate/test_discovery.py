"""Which files a run looks at: gitignore semantics, skipped folders, excludes, symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migrate.discovery import discover, parse_gitignore_line, walk_all_files


def make_tree(root: Path, files: dict[str, str]) -> None:
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def found(root: Path, *args: str, excludes: tuple[str, ...] = ()) -> list[str]:
    result = discover(args or (str(root),), excludes, cwd=root)
    return [f.relpath for f in result.files]


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        ("*.py", "a/b/c.py", False, True),
        ("*.py", "c.pyc", False, False),
        ("/build", "build", True, True),
        ("/build", "src/build", True, False),  # anchored at the .gitignore's folder
        ("build/", "src/build", True, True),  # dir-only, any depth
        ("build/", "src/build", False, False),  # ... but not a file of that name
        ("docs/*.py", "docs/conf.py", False, True),
        ("docs/*.py", "docs/api/conf.py", False, False),  # * does not cross /
        ("**/gen", "a/b/gen", True, True),
        ("a/**/b.py", "a/b.py", False, True),
        ("a/**/b.py", "a/x/y/b.py", False, True),
        ("out/**", "out/x/y.py", False, True),
        ("file?.py", "file1.py", False, True),
        ("file[0-9].py", "filex.py", False, False),
        ("file[!0-9].py", "filex.py", False, True),
        ("\\#hash.py", "#hash.py", False, True),
    ],
)
def test_gitignore_patterns(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    compiled = parse_gitignore_line(pattern)
    assert compiled is not None
    matched = bool(compiled.regex.match(path)) and (is_dir or not compiled.dir_only)
    assert matched is expected


def test_gitignore_comments_blank_and_negation() -> None:
    assert parse_gitignore_line("# comment") is None
    assert parse_gitignore_line("   ") is None
    negated = parse_gitignore_line("!keep.py")
    assert negated is not None and negated.negated


def test_walk_skips_what_is_not_project_code(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "app.py": "",
            "pkg/mod.py": "",
            "pkg/data.txt": "",
            ".hidden/x.py": "",
            "venv/pyvenv.cfg": "",
            "venv/lib/x.py": "",
            "lib/site-packages/x.py": "",
            "node_modules/x.py": "",
            "pkg/__pycache__/x.py": "",
            ".git/hooks/x.py": "",
        },
    )
    assert found(tmp_path) == ["app.py", "pkg/mod.py"]
    # --out copies every file of the project, with the same skipping
    every = [f.relpath for f in walk_all_files(tmp_path).files]
    assert every == ["app.py", "pkg/data.txt", "pkg/mod.py"]


def test_gitignore_nested_negation_and_dir_only(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".git/HEAD": "",
            ".gitignore": "*.gen.py\nbuild/\n/top_only.py\n",
            "a.gen.py": "",
            "keep.py": "",
            "top_only.py": "",
            "sub/top_only.py": "",
            "build/x.py": "",
            "sub/build.py": "",  # a file named like the dir-only pattern
            "sub/.gitignore": "!special.gen.py\nlocal.py\n",
            "sub/special.gen.py": "",
            "sub/other.gen.py": "",
            "sub/local.py": "",
            ".git/info/exclude": "secret.py\n",
            "secret.py": "",
        },
    )
    assert found(tmp_path) == [
        "keep.py",
        "sub/build.py",
        "sub/special.gen.py",
        "sub/top_only.py",
    ]
    # walking a subfolder still honours the .gitignore files above it
    assert found(tmp_path, "sub") == ["build.py", "special.gen.py", "top_only.py"]


def test_exclude_globs(tmp_path: Path) -> None:
    make_tree(tmp_path, {"app.py": "", "tests/test_app.py": "", "pkg/migrations/0001.py": ""})
    assert found(tmp_path, excludes=("tests",)) == ["app.py", "pkg/migrations/0001.py"]
    assert found(tmp_path, excludes=("migrations/*.py",)) == ["app.py", "tests/test_app.py"]


def test_explicit_files_any_suffix_deduplicated_in_order(tmp_path: Path) -> None:
    make_tree(tmp_path, {"b.py": "", "a.py": "", "script": "", ".gitignore": "b.py\n"})
    result = discover(["script", "b.py", ".", "script"], cwd=tmp_path)
    # named files are taken even when gitignored or without .py; no duplicates
    assert [f.relpath for f in result.files] == ["script", "b.py", "a.py"]


def test_symlinks_are_reported_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make_tree(outside, {"evil.py": "", "lib/x.py": ""})
    tree = tmp_path / "tree"
    make_tree(tree, {"real.py": ""})
    os.symlink(outside / "evil.py", tree / "link_out.py")
    os.symlink(outside / "lib", tree / "linked_dir")
    os.symlink(tree / "real.py", tree / "alias.py")
    os.symlink(tree / "missing.py", tree / "broken.py")
    result = discover([str(tree)], cwd=tmp_path)
    assert [f.relpath for f in result.files] == ["real.py"]
    reasons = {p.path.name: p.reason for p in result.skipped}
    assert "outside the tree" in reasons["link_out.py"]
    assert "outside the tree" in reasons["linked_dir"]
    assert "processed there" in reasons["alias.py"]
    assert "broken" in reasons["broken.py"]


def test_deterministic_order(tmp_path: Path) -> None:
    make_tree(tmp_path, {name: "" for name in ["z.py", "b/a.py", "a.py", "B.py", "b/__init__.py"]})
    # sorted by name, folder by folder (code-point order, independent of the file system)
    assert found(tmp_path) == ["B.py", "a.py", "b/__init__.py", "b/a.py", "z.py"]
