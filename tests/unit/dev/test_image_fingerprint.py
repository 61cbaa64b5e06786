"""An unchanged build context skips buildah; any change a build could see does not."""

from __future__ import annotations

from pathlib import Path

from mlops_dev.node.images import build_fingerprint


def _context(tmp_path: Path, ignore: str) -> tuple[Path, Path]:
    (tmp_path / "src" / "__pycache__").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('v1')\n")
    (tmp_path / "src" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    (tmp_path / "tests" / "test_app.py").write_text("def test(): ...\n")
    (tmp_path / ".dockerignore").write_text(ignore)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM base\nCOPY src /src\n")
    return tmp_path, dockerfile


def test_files_the_dockerignore_excludes_do_not_change_the_fingerprint(tmp_path: Path) -> None:
    context, dockerfile = _context(tmp_path, "# build context\ntests\n**/__pycache__\n")
    before = build_fingerprint(dockerfile, context, "base-1")
    (context / "tests" / "test_app.py").write_text("def test(): assert False\n")
    (context / "src" / "__pycache__" / "app.pyc").write_bytes(b"\1")
    assert build_fingerprint(dockerfile, context, "base-1") == before


def test_a_source_file_the_dockerfile_or_the_base_changes_it(tmp_path: Path) -> None:
    context, dockerfile = _context(tmp_path, "tests\n")
    before = build_fingerprint(dockerfile, context, "base-1")
    assert build_fingerprint(dockerfile, context, "base-2") != before
    dockerfile.write_text("FROM base\nCOPY src /app\n")
    after_dockerfile = build_fingerprint(dockerfile, context, "base-1")
    assert after_dockerfile != before
    (context / "src" / "app.py").write_text("print('v2')\n")
    assert build_fingerprint(dockerfile, context, "base-1") != after_dockerfile
    (context / "src" / "new.py").write_text("")
    assert build_fingerprint(dockerfile, context, "base-1") != after_dockerfile


def test_an_exception_in_the_dockerignore_makes_every_file_count(tmp_path: Path) -> None:
    context, dockerfile = _context(tmp_path, "tests\n!tests/test_app.py\n")
    before = build_fingerprint(dockerfile, context, "base-1")
    (context / "tests" / "test_app.py").write_text("def test(): assert False\n")
    assert build_fingerprint(dockerfile, context, "base-1") != before
