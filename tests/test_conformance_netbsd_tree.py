"""``physseg.conformance.netbsd_tree``: what makes a directory a NetBSD tree physseg can build
(the six files), the revision read from ``uvm_physseg.c``'s ``$NetBSD$`` line, and the
compiler's sources and flags for a configuration.

NetBSD's code is not shipped, so these tests use fake trees; the build against a real tree runs
only when ``PHYSSEG_NETBSD_SRC`` names one (see the last test).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from physseg.conformance.build import BASE_FLAGS, compiler
from physseg.conformance.config import ALL_CONFIGS, Config
from physseg.conformance.netbsd_tree import (
    REQUIRED,
    compile_flags,
    glue_dir,
    missing,
    revision,
    sources,
)

RBTREE = Config.parse("rbtree-max32-bsearch")
STATIC = Config.parse("static-max1-bigfirst")


def _fake_tree(root: Path, header: str = "/* $NetBSD: uvm_physseg.c,v 1.9 2018/01/21 */\n") -> Path:
    for path in REQUIRED:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("/* fake */\n")
    (root / "sys/uvm/uvm_physseg.c").write_text(header + "int x;\n")
    return root


def test_required_names_the_six_files_at_their_netbsd_paths() -> None:
    assert REQUIRED == (
        "sys/uvm/uvm_physseg.c",
        "sys/uvm/uvm_physseg.h",
        "sys/sys/rbtree.h",
        "common/lib/libc/gen/rb.c",
        "sys/sys/extent.h",
        "sys/kern/subr_extent.c",
    )


def test_a_complete_tree_misses_nothing(tmp_path: Path) -> None:
    assert missing(_fake_tree(tmp_path)) == []


def test_an_empty_directory_misses_all_six_in_order(tmp_path: Path) -> None:
    assert missing(tmp_path) == list(REQUIRED)


def test_a_nonexistent_tree_misses_all_six(tmp_path: Path) -> None:
    assert missing(tmp_path / "nowhere") == list(REQUIRED)


def test_one_removed_file_is_reported_alone(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path)
    (tree / "sys/kern/subr_extent.c").unlink()
    assert missing(tree) == ["sys/kern/subr_extent.c"]


def test_a_directory_in_place_of_a_file_counts_as_missing(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path)
    (tree / "sys/sys/rbtree.h").unlink()
    (tree / "sys/sys/rbtree.h").mkdir()
    assert missing(tree) == ["sys/sys/rbtree.h"]


def test_revision_is_read_from_the_netbsd_id_line(tmp_path: Path) -> None:
    tree = _fake_tree(
        tmp_path, "/* $NetBSD: uvm_physseg.c,v 1.9 2018/01/21 17:58:43 christos Exp $ */\n"
    )
    assert revision(tree) == "1.9"


def test_a_branch_revision_keeps_all_its_numbers(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path, "/* $NetBSD: uvm_physseg.c,v 1.7.2.3 2017/08/28 skrll Exp $ */\n")
    assert revision(tree) == "1.7.2.3"


def test_no_id_line_means_no_revision(tmp_path: Path) -> None:
    assert revision(_fake_tree(tmp_path, "/* a copy without its RCS id */\n")) is None


def test_the_id_line_of_another_file_is_not_taken(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path, "/* $NetBSD: uvm_page.c,v 1.18 2019/01/01 Exp $ */\n")
    assert revision(tree) is None


def test_an_id_line_past_the_head_of_the_file_is_not_looked_for(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path, "\n" * 5000 + "/* $NetBSD: uvm_physseg.c,v 1.9 x $ */\n")
    assert revision(tree) is None


def test_a_missing_source_has_no_revision(tmp_path: Path) -> None:
    assert revision(tmp_path) is None


@given(st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=4))
def test_any_dotted_revision_reads_back(numbers: list[int]) -> None:
    import tempfile

    rev = ".".join(str(n) for n in numbers)
    with tempfile.TemporaryDirectory() as directory:
        tree = _fake_tree(Path(directory), f"/* $NetBSD: uvm_physseg.c,v {rev} 2020/02/02 $ */\n")
        assert revision(tree) == rev


def test_sources_are_the_two_glue_files_and_the_trees_rb_c(tmp_path: Path) -> None:
    glue = glue_dir()
    assert sources(tmp_path) == [
        glue / "psc_netbsd.c",
        glue / "psc_extent.c",
        tmp_path / "common/lib/libc/gen/rb.c",
    ]


def test_the_glue_and_its_shim_headers_ship_with_the_package() -> None:
    glue = glue_dir()
    for name in (
        "psc_netbsd.c",
        "psc_extent.c",
        "include/psc_kern.h",
        "include/sys/extent.h",
        "include/uvm/uvm.h",
        "include/uvm/uvm_page.h",
    ):
        assert (glue / name).is_file(), name


def test_the_glue_includes_the_trees_files_unchanged() -> None:
    glue = glue_dir()
    assert '#include "sys/uvm/uvm_physseg.c"' in (glue / "psc_netbsd.c").read_text()
    assert '#include "sys/kern/subr_extent.c"' in (glue / "psc_extent.c").read_text()


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=lambda c: c.name)
def test_flags_carry_the_configurations_defines(config: Config, tmp_path: Path) -> None:
    flags = compile_flags(config, _fake_tree(tmp_path))
    for define in config.defines():
        assert define in flags


def test_the_shims_come_first_and_the_trees_sys_last(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path)
    flags = compile_flags(RBTREE, tree)
    assert flags[0] == f"-I{glue_dir() / 'include'}"
    assert f"-I{glue_dir().parent}" in flags
    assert f"-iquote{tree}" in flags
    assert f"-idirafter{tree / 'sys'}" in flags
    assert not any(flag == f"-I{tree}" or flag == f"-I{tree / 'sys'}" for flag in flags)


def test_the_revision_is_passed_for_psc_implementation(tmp_path: Path) -> None:
    flags = compile_flags(STATIC, _fake_tree(tmp_path))
    assert '-DPSC_UVM_PHYSSEG_REV="1.9"' in flags


def test_an_unknown_revision_passes_no_define(tmp_path: Path) -> None:
    flags = compile_flags(STATIC, _fake_tree(tmp_path, "/* no id */\n"))
    assert not any(flag.startswith("-DPSC_UVM_PHYSSEG_REV") for flag in flags)


def test_extent_testing_is_off_unless_asked(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path)
    assert "-DPSC_EXTENT_TESTING" not in compile_flags(RBTREE, tree)
    assert "-DPSC_EXTENT_TESTING" in compile_flags(RBTREE, tree, extent_testing=True)


def test_the_trees_warnings_are_tolerated(tmp_path: Path) -> None:
    assert "-w" in compile_flags(RBTREE, _fake_tree(tmp_path))


@pytest.mark.skipif(
    not os.environ.get("PHYSSEG_NETBSD_SRC"),
    reason="set PHYSSEG_NETBSD_SRC to a NetBSD source tree to build it",
)
@pytest.mark.parametrize("config", [RBTREE, STATIC], ids=lambda c: c.name)
def test_a_real_tree_builds_as_the_builder_runs_gcc(config: Config, tmp_path: Path) -> None:
    tree = Path(os.environ["PHYSSEG_NETBSD_SRC"])
    assert missing(tree) == []
    command = [
        compiler(),
        *BASE_FLAGS,
        *compile_flags(config, tree),
        *(str(source) for source in sources(tree)),
        "-o",
        str(tmp_path / "lib.so"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
