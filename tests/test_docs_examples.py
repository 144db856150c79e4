"""Every example of the README and ``docs/*.md`` runs, and shows what it really prints.

Each document is one session in a fresh temporary directory (holding a copy of ``examples/``,
as a clone's root does): its shell and ``console`` blocks run in order with the installed
``physseg`` first on ``PATH`` and ``HOME`` inside the directory; its Python blocks run in
order in one namespace, as doctests where they show ``>>>`` prompts. What is run and how is
described in :mod:`support.docblocks`.
"""

from __future__ import annotations

import doctest
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.docblocks import Block, blocks, transcript

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([REPO / "README.md", REPO / "examples" / "README.md", *REPO.glob("docs/*.md")])
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
COMMAND_TIMEOUT = 300


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(HOME=str(home), COLUMNS="80", NO_COLOR="1", TERM="dumb")
    return env


def _session(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "session"
    shutil.copytree(REPO / "examples", root / "examples")
    (root / "home").mkdir()
    return root, _environment(root / "home")


def _bash(command: str, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``command``; its stdout and stderr interleaved in ``stdout``, as a terminal shows."""
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", command],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def _run_shell(block: Block, root: Path, env: dict[str, str]) -> None:
    done = _bash(block.text, root, env)
    assert done.returncode == 0, (
        f"{block.where()}: the shell block exited {done.returncode}\n{done.stdout}"
    )


def _run_console(block: Block, root: Path, env: dict[str, str]) -> None:
    checker = doctest.OutputChecker()
    for command, shown in transcript(block):
        done = _bash(command, root, env)
        printed = done.stdout.strip("\n")
        if not checker.check_output(shown + "\n", printed + "\n", FLAGS):
            pytest.fail(
                f"{block.where()}: `{command}` printed\n{printed}\n--- but the document shows\n"
                f"{shown}"
            )


def _run_python(block: Block, namespace: dict[str, object]) -> None:
    if ">>>" in block.text:
        test = doctest.DocTestParser().get_doctest(
            block.text, namespace, block.where(), str(block.path), block.line
        )
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        report: list[str] = []
        runner.run(test, out=report.append, clear_globs=False)
        assert runner.failures == 0, f"{block.where()}:\n" + "".join(report)
        namespace.update(test.globs)
    else:
        exec(compile(block.text, block.where(), "exec"), namespace)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_the_documents_examples_run(
    document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, env = _session(tmp_path)
    monkeypatch.chdir(root)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    for block in blocks(document):
        if block.kind is None or block.skip_reason is not None:
            continue
        if block.kind == "sh":
            _run_shell(block, root, env)
        elif block.kind == "console":
            _run_console(block, root, env)
        else:
            _run_python(block, namespace)


def test_every_skip_gives_a_reason_and_most_examples_run() -> None:
    runnable = [block for document in DOCUMENTS for block in blocks(document) if block.kind]
    skipped = [block for block in runnable if block.skip_reason is not None]
    for block in skipped:
        assert len(block.skip_reason or "") >= 10, f"{block.where()}: a skip needs its reason"
    assert len(skipped) * 3 < len(runnable), [block.where() for block in skipped]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(text)
    return path


def test_the_harness_catches_a_wrong_transcript_and_a_failing_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, env = _session(tmp_path)
    monkeypatch.chdir(root)
    good = _write(
        tmp_path, "```console\n$ echo one two\none   two\n$ printf 'a\\nb\\nc\\n'\na\n...\n```\n"
    )
    _run_console(blocks(good)[0], root, env)
    wrong = _write(tmp_path, "```console\n$ echo one\ntwo\n```\n")
    with pytest.raises(pytest.fail.Exception, match="but the document shows"):
        _run_console(blocks(wrong)[0], root, env)
    failing = _write(tmp_path, "```sh\ntrue\nfalse\ntrue\n```\n")
    with pytest.raises(AssertionError, match="exited 1"):
        _run_shell(blocks(failing)[0], root, env)


def test_the_harness_checks_python_output_and_skips_only_with_a_reason(tmp_path: Path) -> None:
    doc = _write(
        tmp_path,
        "<!-- docs-test: skip needs a real kernel -->\n```sh\nmake run\n```\n"
        "```python\n>>> 1 + 1\n3\n```\n```text\nnot run\n```\n",
    )
    skipped, python, text = blocks(doc)
    assert skipped.skip_reason == "needs a real kernel" and text.kind is None
    with pytest.raises(AssertionError, match="Expected:"):
        _run_python(python, {})
    namespace: dict[str, object] = {}
    _run_python(blocks(_write(tmp_path, "```python\nx = 4\n```\n"))[0], namespace)
    assert namespace["x"] == 4
