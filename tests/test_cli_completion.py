"""``physseg completion`` and ``physseg man``: generated from the parser, so they name every
subcommand and option of this version."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from physseg.cli import main
from physseg.cli.main import COMMAND_MODULES


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_completion_script_knows_every_command(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for command in COMMAND_MODULES:
        assert command in script
    assert "--state" in script and "virtio-mem" in script


def test_the_bash_script_is_valid_bash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "physseg.bash"
    script.write_text(capsys.readouterr().out)
    probe = f"source {script} && complete -p physseg"
    done = subprocess.run(
        [bash, "-c", probe], check=False, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert "physseg" in done.stdout


def test_the_man_page_documents_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["man"]) == 0
    page = capsys.readouterr().out
    assert page.startswith('.TH PHYSSEG "1"')
    assert "physseg \\- model NetBSD" in page
    for command in COMMAND_MODULES:
        assert f"'physseg {command}'" in page
    assert "\\-\\-state" in page


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["completion", "fish"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
