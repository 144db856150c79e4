"""``physseg conformance`` end to end: exit 0 / 1 / 2, the JSON document, and a C
reproduction that compiles against the library and shows the divergence it reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from physseg.bench.ccompare import CSide
from physseg.bench.workloads import CASES, LookupCase, build_kernel
from physseg.cli.main import main
from physseg.conformance.build import build_runtime, csrc
from physseg.conformance.clib import load_runtime
from physseg.conformance.netbsd_tree import REQUIRED
from physseg.errors import CComparatorError

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler (gcc)")


@pytest.fixture(autouse=True)
def build_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.getbasetemp() / "conformance-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PHYSSEG_CACHE_DIR", str(cache))
        yield cache


def test_an_incomplete_tree_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sys" / "uvm").mkdir(parents=True)
    (tmp_path / "sys" / "uvm" / "uvm_physseg.c").write_text("/* */\n")
    assert main(["conformance", "--netbsd-src", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a NetBSD source tree" in err
    assert "sys/kern/subr_extent.c" in err and "sys/uvm/uvm_physseg.c," not in err


def test_a_tree_that_does_not_compile_prints_the_compilers_message_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in REQUIRED:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("/* empty */\n")
    (tmp_path / "sys/uvm/uvm_physseg.c").write_text("this is not C;\n")
    status = main(["conformance", "--netbsd-src", str(tmp_path), "--config", "rbtree-max1-random"])
    assert status == 2
    err = capsys.readouterr().err
    assert "uvm_physseg.c" in err and "error" in err
    assert "gcc" in err or "cc" in err  # the command line that failed comes first


def test_a_library_that_is_not_one_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["conformance", "--lib", str(tmp_path / "absent.so")]) == 2
    assert "absent.so" in capsys.readouterr().err
    partial = tmp_path / "partial.c"
    partial.write_text("int psc_abi_version(void) { return 1; }\n")
    library = tmp_path / "libpartial.so"
    subprocess.run(["gcc", "-shared", "-fPIC", str(partial), "-o", str(library)], check=True)
    assert main(["conformance", "--lib", str(library)]) == 2
    assert "are missing" in capsys.readouterr().err


def test_a_mutant_needs_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "--lib", "x.so", "--mutant", "wrong-abort"]) == 2
    assert "--mutant needs --reference" in capsys.readouterr().err


def test_a_caught_mutant_exits_1_and_its_reproduction_shows_the_divergence_in_c(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], build_cache: Path
) -> None:
    argv = ["conformance", "--reference", "--config", "rbtree-max32-bsearch", "--no-atf"]
    argv += ["--mutant", "wrong-abort", "--sequences", "100", "--json"]
    assert main([*argv, "--repro-dir", str(tmp_path / "repro")]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == 1 and document["divergences"] == 1
    (report,) = document["configurations"]
    (divergence,) = report["divergences"]
    assert divergence["first_difference"]["field"] == "abort"
    assert divergence["model"]["abort"]["kind"] == "panic"
    assert divergence["implementation"]["abort"] is None
    assert len(divergence["calls"]) <= 10
    source = tmp_path / "repro" / "rbtree-max32-bsearch-1.c"
    assert source.read_text() == divergence["c_reproduction"]

    assert main([*argv[:5], "--sequences", "0"]) == 0  # builds the reference, no divergence
    built = {
        "mutant": next(build_cache.glob("ref-rbtree-max32-bsearch-wrong-abort-*.so")),
        "reference": next(
            p for p in build_cache.glob("ref-rbtree-max32-bsearch-*.so") if "abort" not in p.name
        ),
    }
    outputs = {}
    for name, library in built.items():
        exe = tmp_path / name
        rpath = f"-Wl,-rpath,{library.parent}"
        compile_repro = ["gcc", f"-I{csrc()}", str(source), str(library), rpath, "-o", str(exe)]
        subprocess.run(compile_repro, check=True)
        run = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
        outputs[name] = run.stdout
    assert "abort (panic)" in outputs["reference"]
    assert "abort" not in outputs["mutant"]


def test_the_process_keeps_one_runtime_whatever_cache_it_was_built_in(tmp_path: Path) -> None:
    """psc_abort resolves to the first runtime loaded (RTLD_GLOBAL), so a runtime built in a
    second cache must not be loaded beside it: its abort descriptor would never be used."""
    first = build_runtime()
    copy = tmp_path / "psc_runtime-copy.so"
    shutil.copyfile(first, copy)
    assert load_runtime(copy) is load_runtime(first)
    one_record = CSide.prepare(None, [("rbtree", 1)])  # VM_PHYSSEG_MAX 1
    case = CASES["1K"]
    assert isinstance(case, LookupCase)
    layout = build_kernel(case, "rbtree", 1)  # 32 segments
    with pytest.raises(CComparatorError) as failed:  # a KASSERT's message still arrives
        one_record.spawn("c-rbtree", "rbtree", 1).replay(layout)
    assert failed.value.detail.startswith(("panic: ", "kassert: ")), failed.value.detail
